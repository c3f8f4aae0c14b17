#!/usr/bin/env python3
"""guestprof.py KERNEL RUN [HZ] [CPU]: a sampling profile of Tine under TCG.

Boots KERNEL (an ELF with symbols, e.g. target/x86_64-unknown-none/release/tine)
with `run=RUN` (e.g. `/bin/oploop,getpid,8`) under the benchmark machine
(-M q35 -cpu qemu64 -accel tcg,thread=multi -smp $SMP -m 512), waits for the
program to print `loop start`, then asks QEMU's monitor (QMP) for CPU's
registers HZ times a second until QEMU exits, and prints the share of
samples per kernel function (`<user>` for ring 3). RIPS=N also prints the N
hottest addresses with addr2line's inline chain. Environment: INITRD (default
target/initramfs.cpio; pack the program with `cargo xtask run --add`), SMP
(default 2), MEM (guest MiB, default 512), START (the line that starts the
sampling, default `loop start`), STOP (a line that ends it, default none),
TOP (functions shown, default 40), SAVE (write the raw samples to this
file), APPEND (the whole kernel command line instead of `run=RUN`, e.g.
`bench=vm_cow_fault_copy` with START=`bench`). CPU may be a list (`0,1`): each sample
then reads every listed CPU in turn, and the table adds them up.

Under TCG a sample lands at the start of a translation block, so a slow
helper or MMIO exit is charged to the block it ends. Nothing here is a
timing test: it is for finding where the time goes.
"""
import json, os, socket, subprocess, sys, time, collections, bisect, re
kernel, runargs = sys.argv[1], sys.argv[2]
hz = float(sys.argv[3]) if len(sys.argv) > 3 else 300
cpus = (sys.argv[4] if len(sys.argv) > 4 else "0").split(",")
start = os.environ.get("START", "loop start")
stop = os.environ.get("STOP")
initrd = os.environ.get("INITRD", "target/initramfs.cpio")
sock = f"/tmp/tine-prof-{os.getpid()}.sock"
out_path = f"/tmp/tine-prof-{os.getpid()}.out"
q = subprocess.Popen(["qemu-system-x86_64", "-M", "q35", "-cpu", "qemu64", "-accel", "tcg,thread=multi",
    "-smp", os.environ.get("SMP", "2"), "-m", os.environ.get("MEM", "512"), "-kernel", kernel, "-initrd", initrd, "-append", os.environ.get("APPEND", "run=" + runargs),
    "-display", "none", "-no-reboot", "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04",
    "-serial", "file:" + out_path + "", "-monitor", "none", "-qmp", f"unix:{sock},server,nowait"])
for _ in range(100):
    if os.path.exists(sock): break
    time.sleep(0.05)
s = socket.socket(socket.AF_UNIX); s.connect(sock); f = s.makefile("rw")
def cmd(c, **a):
    f.write(json.dumps({"execute": c, "arguments": a} if a else {"execute": c}) + "\n"); f.flush()
    while True:
        r = json.loads(f.readline())
        if "return" in r or "error" in r: return r
f.readline(); cmd("qmp_capabilities")
samples = []
started = False
t_end = time.time() + 600
while q.poll() is None and time.time() < t_end:
    if not started:
        try:
            if start in open(out_path).read(): started = True
        except FileNotFoundError: pass
        time.sleep(0.01); continue
    if stop and len(samples) % 16 == 0 and stop in open(out_path).read().split(start, 1)[-1]:
        break
    try:
        for cpu in cpus:
            # `cpu N` would not carry over to the next command: each
            # human-monitor-command has its own monitor, so the CPU is an
            # argument.
            r = cmd("human-monitor-command", **{"command-line": "info registers", "cpu-index": int(cpu)})
            out = r.get("return", "")
            m = re.search(r"RIP=([0-9a-f]+)", out); c = re.search(r"CPL=(\d)", out)
            if m: samples.append((int(m.group(1), 16), int(c.group(1)) if c else -1))
    except Exception: break
    time.sleep(1 / hz)
q.wait()
if os.environ.get("SAVE"):
    with open(os.environ["SAVE"], "w") as out:
        out.writelines(f"{rip:x} {cpl}\n" for rip, cpl in samples)
if os.environ.get("LOAD"):
    samples = [(int(a, 16), int(b)) for a, b in (l.split() for l in open(os.environ["LOAD"]))]
print(open(out_path).read().split(start)[-1][:600])
# symbolise
nm = subprocess.run(["nm", "-C", "--defined-only", kernel], capture_output=True, text=True).stdout
syms = []
for l in nm.splitlines():
    p = l.split(" ", 2)
    if len(p) == 3 and p[1] in "tTwW": syms.append((int(p[0], 16), p[2]))
syms.sort(); addrs = [a for a, _ in syms]
cnt = collections.Counter()
for rip, cpl in samples:
    if cpl == 3: cnt["<user>"] += 1; continue
    i = bisect.bisect_right(addrs, rip) - 1
    name = syms[i][1] if i >= 0 else hex(rip)
    name = re.sub(r"::h[0-9a-f]{16}$", "", name)
    cnt[name[:150]] += 1
n = len(samples); print(f"{n} samples")
if os.environ.get("RIPS"):
    rc = collections.Counter(r for r, c in samples if c != 3)
    top = rc.most_common(int(os.environ["RIPS"]))
    for r, v in top:
        o = subprocess.run(["addr2line", "-i", "-e", kernel, hex(r)], capture_output=True, text=True).stdout.split()
        o = [x.replace(os.getcwd() + "/", "") for x in o]
        print(f"{100*v/n:5.1f}% {hex(r)} {' <- '.join(o[:4])}")
for k, v in cnt.most_common(int(os.environ.get("TOP", "40"))): print(f"{100*v/n:5.1f}% {v:5d} {k}")
