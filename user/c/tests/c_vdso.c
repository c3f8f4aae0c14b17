/*
 * /test/c_vdso: the vDSO. getauxval(AT_SYSINFO_EHDR) names an ELF image
 * with the symbols musl looks up; clock_gettime, gettimeofday and time
 * (through musl, which calls the vDSO) agree with the system calls and
 * never go backwards; sched_getcpu agrees with SYS_getcpu while pinned to
 * each CPU; a fork child sees the same vDSO and clock; an exec'd image
 * gets one too (re-exec of this program with "child"). Clocks the vDSO
 * does not serve still work (CPU time, and an invalid id gives EINVAL).
 * Exits 0 when every check holds; each failure is printed. Runs unchanged
 * on Linux.
 */
#define _GNU_SOURCE
#include <elf.h>
#include <errno.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char *me = "c_vdso";
#include "check.h"

static int64_t ns_of(const struct timespec *ts)
{
	return (int64_t)ts->tv_sec * 1000000000 + ts->tv_nsec;
}

/* Whether the image at `base` is an ELF shared object whose dynamic
 * symbols include `name`. */
static int has_symbol(uintptr_t base, const char *name)
{
	const Elf64_Ehdr *eh = (const Elf64_Ehdr *)base;
	if (memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0 || eh->e_type != ET_DYN)
		return 0;
	const Elf64_Phdr *ph = (const Elf64_Phdr *)(base + eh->e_phoff);
	uintptr_t load = 0;
	const Elf64_Dyn *dyn = 0;
	for (int i = 0; i < eh->e_phnum; i++) {
		if (ph[i].p_type == PT_LOAD && !load)
			load = base + ph[i].p_offset - ph[i].p_vaddr;
		if (ph[i].p_type == PT_DYNAMIC)
			dyn = (const Elf64_Dyn *)(base + ph[i].p_offset);
	}
	if (!load || !dyn)
		return 0;
	const Elf64_Sym *syms = 0;
	const char *strs = 0;
	const uint32_t *hash = 0;
	for (; dyn->d_tag != DT_NULL; dyn++) {
		if (dyn->d_tag == DT_SYMTAB)
			syms = (const Elf64_Sym *)(load + dyn->d_un.d_ptr);
		if (dyn->d_tag == DT_STRTAB)
			strs = (const char *)(load + dyn->d_un.d_ptr);
		if (dyn->d_tag == DT_HASH)
			hash = (const uint32_t *)(load + dyn->d_un.d_ptr);
	}
	if (!syms || !strs || !hash)
		return 0;
	/* DT_HASH's nchain is the number of symbols. */
	for (uint32_t i = 1; i < hash[1]; i++) {
		if (strcmp(strs + syms[i].st_name, name) == 0)
			return syms[i].st_value != 0;
	}
	return 0;
}

static void check_clocks(void)
{
	struct timespec a, b, c;
	/* vDSO, system call, vDSO: each no earlier than the one before. */
	for (int round = 0; round < 100; round++) {
		CHECK(clock_gettime(CLOCK_MONOTONIC, &a) == 0);
		CHECK(syscall(SYS_clock_gettime, CLOCK_MONOTONIC, &b) == 0);
		CHECK(clock_gettime(CLOCK_MONOTONIC, &c) == 0);
		CHECK(ns_of(&a) <= ns_of(&b) && ns_of(&b) <= ns_of(&c));
		CHECK(a.tv_nsec >= 0 && a.tv_nsec < 1000000000);
		if (failures)
			break;
	}
	/* The wall clock agrees with the system call within a second. */
	CHECK(clock_gettime(CLOCK_REALTIME, &a) == 0);
	CHECK(syscall(SYS_clock_gettime, CLOCK_REALTIME, &b) == 0);
	CHECK(ns_of(&b) - ns_of(&a) >= 0 && ns_of(&b) - ns_of(&a) < 1000000000);
	CHECK(a.tv_sec > 1600000000); /* after 2020 */
	struct timeval tv;
	CHECK(gettimeofday(&tv, NULL) == 0);
	CHECK(tv.tv_usec >= 0 && tv.tv_usec < 1000000);
	CHECK(tv.tv_sec >= a.tv_sec && tv.tv_sec - a.tv_sec < 2);
	time_t t = 0;
	time_t now = time(&t);
	CHECK(now == t && now >= a.tv_sec && now - a.tv_sec < 2);
	/* The other ids the vDSO serves, and ones it passes on. */
	int served[] = { CLOCK_MONOTONIC_RAW, CLOCK_REALTIME_COARSE, CLOCK_MONOTONIC_COARSE,
			 CLOCK_BOOTTIME };
	for (unsigned i = 0; i < sizeof served / sizeof served[0]; i++)
		CHECK(clock_gettime(served[i], &a) == 0 && a.tv_nsec < 1000000000);
	CHECK(clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &a) == 0);
	errno = 0;
	CHECK(clock_gettime(12345, &a) == -1 && errno == EINVAL);
}

static void check_getcpu(void)
{
	cpu_set_t all;
	CHECK(sched_getaffinity(0, sizeof all, &all) == 0);
	int cpus = CPU_COUNT(&all);
	for (int cpu = 0; cpu < cpus && cpu < 8; cpu++) {
		if (!CPU_ISSET(cpu, &all))
			continue;
		cpu_set_t one;
		CPU_ZERO(&one);
		CPU_SET(cpu, &one);
		CHECK(sched_setaffinity(0, sizeof one, &one) == 0);
		unsigned sys_cpu = 99, node = 99;
		CHECK(syscall(SYS_getcpu, &sys_cpu, &node, NULL) == 0);
		CHECK(sched_getcpu() == cpu);
		CHECK(sys_cpu == (unsigned)cpu);
	}
	CHECK(sched_setaffinity(0, sizeof all, &all) == 0);
}

int main(int argc, char **argv)
{
	uintptr_t base = getauxval(AT_SYSINFO_EHDR);
	if (argc > 1 && strcmp(argv[1], "child") == 0) {
		/* After execve: a vDSO again, and a working clock. */
		struct timespec ts;
		int ok = base != 0 && has_symbol(base, "__vdso_clock_gettime") &&
			 clock_gettime(CLOCK_MONOTONIC, &ts) == 0;
		return ok ? 0 : 1;
	}
	CHECK(base != 0);
	if (base) {
		CHECK(has_symbol(base, "__vdso_clock_gettime"));
		CHECK(has_symbol(base, "__vdso_gettimeofday"));
		CHECK(has_symbol(base, "__vdso_time"));
		CHECK(has_symbol(base, "__vdso_getcpu"));
		CHECK(!has_symbol(base, "__vdso_no_such_symbol"));
	}
	check_clocks();
	check_getcpu();

	/* fork: the child has the same vDSO, and its clock goes on. */
	struct timespec before, after;
	CHECK(clock_gettime(CLOCK_MONOTONIC, &before) == 0);
	pid_t pid = fork();
	if (pid == 0) {
		struct timespec ts;
		int ok = getauxval(AT_SYSINFO_EHDR) == base &&
			 clock_gettime(CLOCK_MONOTONIC, &ts) == 0 && ns_of(&ts) >= ns_of(&before);
		_exit(ok ? 0 : 1);
	}
	int status = -1;
	CHECK(pid > 0 && waitpid(pid, &status, 0) == pid);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	CHECK(clock_gettime(CLOCK_MONOTONIC, &after) == 0 && ns_of(&after) >= ns_of(&before));

	/* exec: the new image gets a vDSO of its own. */
	pid = fork();
	if (pid == 0) {
		char *args[] = { argv[0], "child", NULL };
		char *envp[] = { NULL };
		execve("/proc/self/exe", args, envp);
		execve(argv[0], args, envp);
		_exit(127);
	}
	status = -1;
	CHECK(pid > 0 && waitpid(pid, &status, 0) == pid);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);

	return check_report();
}
