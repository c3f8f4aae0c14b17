# Tine's gdb commands, loaded by `cargo xtask gdb` (docs/gdb.md).
#
# QEMU's gdb stub shows each virtual CPU as a thread, numbered from 1 in
# QEMU's CPU order, which is the MADT order Tine numbers its CPUs in: gdb
# thread N is Tine's cpu N-1.

import gdb


def _int(value):
    """The integer inside an atomic (a chain of one-field structs)."""
    while value.type.strip_typedefs().code == gdb.TYPE_CODE_STRUCT:
        value = value[value.type.strip_typedefs().fields()[0]]
    return int(value)


def _on_cpu():
    """kernel::task::executor::ON_CPU, whatever the current language."""
    name = "kernel::task::executor::ON_CPU"
    symbol = gdb.lookup_static_symbol(name) or gdb.lookup_global_symbol(name)
    if symbol is None:
        raise gdb.GdbError(name + " not found: is this the kernel ELF with symbols?")
    return symbol.value()


class TineTasks(gdb.Command):
    """What each CPU is doing: the task its executor polls and where it stopped.

Usage: tine-tasks
Reads kernel::task::executor::ON_CPU (written around every poll) and each
CPU's innermost frame. A CPU that polls nothing is in its executor loop,
idle, or still booting."""

    def __init__(self):
        super().__init__("tine-tasks", gdb.COMMAND_USER)

    def invoke(self, arg, from_tty):
        on_cpu = _on_cpu()
        inferior = gdb.selected_inferior()
        selected = gdb.selected_thread()
        threads = sorted(inferior.threads(), key=lambda t: t.num)
        try:
            for cpu, thread in enumerate(threads):
                record = on_cpu[cpu]
                task = _int(record["task"])
                if task:
                    length = _int(record["name_len"])
                    name = ""
                    if length:
                        raw = inferior.read_memory(_int(record["name_ptr"]), length)
                        name = " '" + raw.tobytes().decode("utf-8", "replace") + "'"
                    what = "polls task#%d%s" % (task, name)
                else:
                    what = "polls no task"
                thread.switch()
                frame = gdb.newest_frame()
                print("cpu%d: %s; stopped at %#x in %s"
                      % (cpu, what, frame.pc(), frame.name() or "??"))
        finally:
            if selected is not None:
                selected.switch()


TineTasks()
