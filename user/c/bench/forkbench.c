/*
 * forkbench: the fork family timed through the system-call interface.
 *
 * One static musl binary that runs unchanged on Tine and on Linux, so that
 * `cargo xtask bench --compare-linux` can give every figure its Linux twin
 * from the same QEMU configuration. See docs/benchmarks.md.
 *
 * Usage: forkbench [-c CPUS] [-s SCALE] [-n NOP] [-t MHZ] [NAME...]
 *   -c CPUS   CPUs for the throughput workload (default: sysconf, which on
 *             a kernel without sched_getaffinity says 1)
 *   -s SCALE  multiply every iteration count (default 1; 0.1 for a smoke run)
 *   -n NOP    the program the exec and spawn workloads start (default
 *             /bin/nop, which exits 0 at once)
 *   -t MHZ    the TSC frequency, for a kernel without clock_gettime: time
 *             with rdtsc instead (xtask passes the frequency Tine's boot
 *             log reports; clock_gettime is used whenever it works)
 *   NAME...   only the workloads whose name starts with one of these
 *
 * Output, one line each (the contract xtask parses):
 *   forkbench start cpus=N scale=S nop=PATH
 *   METRIC name value unit      a result (unit: ns, us, forks/s, x)
 *   SKIP name reason            the kernel lacks a system call (ENOSYS)
 *   FAIL name reason            anything else went wrong
 *   NOTE name text              a caveat about a result
 *   forkbench done failures=N
 *
 * Method: every timed workload runs one warm-up batch and then BATCHES
 * batches of a fixed number of iterations, each timed with
 * clock_gettime(CLOCK_MONOTONIC) (or rdtsc with -t); the figure is the median over the batches
 * of the time per iteration. The latency workloads run twice: pinned to
 * CPU 0 (sched_setaffinity before the first; children inherit the mask),
 * with their plain names, then on every CPU, named NAME_unpinned. Exit 0
 * unless something FAILed.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/sysinfo.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* Timed batches per workload (after one warm-up batch). */
#define BATCHES 7
#define PAGE 4096L
#define MIB (1024L * 1024L)
/* Exit statuses of an exec child whose execve failed. */
#define EXIT_EXEC_ENOSYS 126
#define EXIT_EXEC_FAILED 127
/* Pages the COW and first-touch workloads write (4 MiB). */
#define FAULT_PAGES 1024L

/* The command-line options. */
static struct {
	double scale;
	int cpus;
	/* rdtsc ticks per microsecond; 0: time with clock_gettime. */
	double tsc_mhz;
	const char *nop;
	char **only;
	int nonly;
} opt = { .scale = 1.0, .nop = "/bin/nop" };

static int failures;
/* Appended to every name reported: "" while pinned, "_unpinned" after. */
static const char *suffix = "";

/* `name` with the current suffix (a static buffer: use it at once). */
static const char *suffixed(const char *name)
{
	static char buf[96];
	snprintf(buf, sizeof buf, "%s%s", name, suffix);
	return buf;
}

/* How a workload step went: OK, or why not (with the reason for the
 * SKIP/FAIL line). */
struct outcome {
	enum { OK, SKIPPED, FAILED } kind;
	char reason[160];
};

static int set_outcome(struct outcome *o, int kind, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	o->kind = kind;
	vsnprintf(o->reason, sizeof o->reason, fmt, ap);
	va_end(ap);
	return -1;
}

/* A failed call: SKIPPED if the kernel lacks it, FAILED otherwise. */
static int syscall_failed(struct outcome *o, const char *call, int err)
{
	return set_outcome(o, err == ENOSYS ? SKIPPED : FAILED, "%s: %s (%s)", call,
			   err == ENOSYS ? "ENOSYS" : strerror(err),
			   err == ENOSYS ? "not implemented" : "error");
}

static void report(const char *name, const struct outcome *o)
{
	if (o->kind == SKIPPED) {
		printf("SKIP %s %s\n", suffixed(name), o->reason);
	} else if (o->kind == FAILED) {
		printf("FAIL %s %s\n", suffixed(name), o->reason);
		failures++;
	}
	fflush(stdout);
}

static void metric(const char *name, double value, const char *unit)
{
	printf("METRIC %s %.3f %s\n", suffixed(name), value, unit);
	fflush(stdout);
}

static int wanted(const char *name)
{
	if (opt.nonly == 0)
		return 1;
	for (int i = 0; i < opt.nonly; i++)
		if (strncmp(name, opt.only[i], strlen(opt.only[i])) == 0)
			return 1;
	return 0;
}

/* Iterations for a workload whose base count is `base`, scaled. */
static long iters(long base)
{
	long n = (long)(base * opt.scale);
	return n < 1 ? 1 : n;
}

static int64_t now_ns(void)
{
	if (opt.tsc_mhz > 0) {
		uint32_t lo, hi;
		__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
		return (int64_t)((double)((uint64_t)hi << 32 | lo) * (1000.0 / opt.tsc_mhz));
	}
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static double median(double *v, int n)
{
	qsort(v, n, sizeof *v, cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* ---- the steps the workloads repeat ---------------------------------- */

/* Waits for child `pid` and checks it exited 0. */
static int reap(pid_t pid, struct outcome *o)
{
	int status;
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return syscall_failed(o, "waitpid", errno);
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	if (WIFEXITED(status) && WEXITSTATUS(status) == EXIT_EXEC_ENOSYS)
		return set_outcome(o, SKIPPED, "execve: ENOSYS (not implemented)");
	if (WIFEXITED(status) && WEXITSTATUS(status) == EXIT_EXEC_FAILED)
		return set_outcome(o, FAILED, "execve %s failed in the child", opt.nop);
	if (WIFSIGNALED(status))
		return set_outcome(o, FAILED, "child killed by signal %d", WTERMSIG(status));
	return set_outcome(o, FAILED, "child exited with status %d", WEXITSTATUS(status));
}

/* In a child: execve the nop program; never returns. */
static void exec_nop(void)
{
	char *argv[] = { (char *)opt.nop, NULL };
	char *envp[] = { NULL };
	execve(opt.nop, argv, envp);
	_exit(errno == ENOSYS ? EXIT_EXEC_ENOSYS : EXIT_EXEC_FAILED);
}

/* One iteration of each process-creation workload: 0, or -1 with `o` set. */
typedef int step_fn(struct outcome *o);

static int fork_exit_wait(struct outcome *o)
{
	pid_t pid = fork();
	if (pid < 0)
		return syscall_failed(o, "fork", errno);
	if (pid == 0)
		_exit(0);
	return reap(pid, o);
}

/* fork_exit_wait with the raw system call instead of musl's fork(),
 * which in a threaded process also takes its locks around the call and,
 * in the child, writes every other thread's descriptor (one page per
 * thread, so one copy-on-write fault each): what the kernel does alone. */
static int raw_fork_exit_wait(struct outcome *o)
{
	long pid = syscall(SYS_fork);
	if (pid < 0)
		return syscall_failed(o, "fork", errno);
	if (pid == 0)
		_exit(0);
	return reap((pid_t)pid, o);
}

/* The descriptors of the parked threads (bench_fork_threaded's), which
 * fork_raw_64threads_touch's child writes. */
static pthread_t *descs;
static long ndescs;
/* How long each such child's writes took (ns), in a MAP_SHARED page the
 * children write and the parent reads: the last TOUCH_TIMES of them. */
#define TOUCH_TIMES ((long)(PAGE / sizeof(double)) - 1)
static struct touch_times {
	long n;
	double ns[TOUCH_TIMES];
} *touch_times;

/* raw_fork_exit_wait whose child first rewrites one byte of each parked
 * thread's descriptor (musl's pthread_t is its descriptor's address) with
 * the value it holds, as musl's fork child writes `td->tid = -1` into
 * each: the same pages, so the same copy-on-write faults, without the
 * rest of musl's fork (its atfork locks and handlers). */
static int raw_fork_touch_exit_wait(struct outcome *o)
{
	long pid = syscall(SYS_fork);
	if (pid < 0)
		return syscall_failed(o, "fork", errno);
	if (pid == 0) {
		int64_t t0 = now_ns();
		for (long i = 0; i < ndescs; i++) {
			volatile char *d = (volatile char *)descs[i];
			*d = *d;
		}
		int64_t t1 = now_ns();
		if (touch_times)
			touch_times->ns[touch_times->n++ % TOUCH_TIMES] = (double)(t1 - t0);
		_exit(0);
	}
	return reap((pid_t)pid, o);
}

static int vfork_exit_wait(struct outcome *o)
{
	pid_t pid = vfork();
	if (pid < 0)
		return syscall_failed(o, "vfork", errno);
	if (pid == 0)
		_exit(0);
	return reap(pid, o);
}

static int vfork_exec_wait(struct outcome *o)
{
	pid_t pid = vfork();
	if (pid < 0)
		return syscall_failed(o, "vfork", errno);
	if (pid == 0)
		exec_nop();
	return reap(pid, o);
}

static int fork_exec_wait(struct outcome *o)
{
	pid_t pid = fork();
	if (pid < 0)
		return syscall_failed(o, "fork", errno);
	if (pid == 0)
		exec_nop();
	return reap(pid, o);
}

static int posix_spawn_wait(struct outcome *o)
{
	char *argv[] = { (char *)opt.nop, NULL };
	char *envp[] = { NULL };
	pid_t pid;
	int err = posix_spawn(&pid, opt.nop, NULL, NULL, argv, envp);
	if (err)
		return syscall_failed(o, "posix_spawn", err);
	return reap(pid, o);
}

/* The nanoseconds `n` calls of `step` take, or -1 with `o` set. */
static int64_t time_steps(step_fn *step, long n, struct outcome *o)
{
	int64_t t0 = now_ns();
	for (long i = 0; i < n; i++)
		if (step(o) < 0)
			return -1;
	return now_ns() - t0;
}

/* Times `step`: a warm-up batch, then BATCHES batches of `n`; reports the
 * median per iteration in `unit` (ns or us). */
static void bench_steps(const char *name, step_fn *step, long n, const char *unit)
{
	struct outcome o = { OK, "" };
	double per[BATCHES];
	double div = strcmp(unit, "us") == 0 ? 1000.0 : 1.0;
	if (time_steps(step, n, &o) < 0)
		return report(name, &o);
	for (int b = 0; b < BATCHES; b++) {
		int64_t ns = time_steps(step, n, &o);
		if (ns < 0)
			return report(name, &o);
		per[b] = (double)ns / n / div;
	}
	metric(name, median(per, BATCHES), unit);
}

/* ---- anonymous memory ----------------------------------------------- */

/* `len` bytes of private anonymous memory, without transparent huge pages
 * (Linux would otherwise fault and fork 2 MiB at a time where Tine uses
 * 4 KiB pages); NULL with `o` set on failure. */
static char *map_anon(long len, struct outcome *o)
{
	char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		syscall_failed(o, "mmap", errno);
		return NULL;
	}
	/* Best effort: a kernel without madvise has no huge pages either. */
	madvise(p, len, MADV_NOHUGEPAGE);
	return p;
}

/* Writes one byte in each page of [p, p+len). */
static void touch(volatile char *p, long len, char value)
{
	for (long off = 0; off < len; off += PAGE)
		p[off] = value;
}

/* fork+exit+wait while the parent has `mib` MiB of written memory. */
static void bench_fork_after(long mib, long n)
{
	char name[64];
	struct outcome o = { OK, "" };
	snprintf(name, sizeof name, "fork_after_%ldmib", mib);
	if (!wanted(name))
		return;
	char *p = map_anon(mib * MIB, &o);
	if (!p)
		return report(name, &o);
	touch(p, mib * MIB, 1);
	bench_steps(name, fork_exit_wait, n, "us");
	munmap(p, mib * MIB);
}

/* The COW buffer, written by the parent before each fork. */
static volatile char *cow_buf;

/* fork, the child writes every page of the COW buffer, exit, wait. */
static int fork_write_exit_wait(struct outcome *o)
{
	pid_t pid = fork();
	if (pid < 0)
		return syscall_failed(o, "fork", errno);
	if (pid == 0) {
		touch(cow_buf, FAULT_PAGES * PAGE, 2);
		_exit(0);
	}
	return reap(pid, o);
}

/*
 * COW fault per page, as a difference: (fork, the child writes all
 * FAULT_PAGES shared pages, exit, wait) minus (fork, exit, wait) with the
 * same memory, divided by the pages. The child needs no way to report a
 * time, so this works with nothing but fork and wait; the figure includes
 * freeing the copies at exit. The two are interleaved batch by batch.
 */
static void bench_cow(long n)
{
	const char *name = "cow_fault_per_page";
	struct outcome o = { OK, "" };
	double per[BATCHES];
	if (!wanted(name))
		return;
	char *p = map_anon(FAULT_PAGES * PAGE, &o);
	if (!p)
		return report(name, &o);
	cow_buf = p;
	touch(p, FAULT_PAGES * PAGE, 1);
	for (int b = -1; b < BATCHES; b++) {
		int64_t with = time_steps(fork_write_exit_wait, n, &o);
		int64_t without = with < 0 ? -1 : time_steps(fork_exit_wait, n, &o);
		if (without < 0) {
			munmap(p, FAULT_PAGES * PAGE);
			return report(name, &o);
		}
		if (b >= 0)
			per[b] = (double)(with - without) / n / FAULT_PAGES;
	}
	munmap(p, FAULT_PAGES * PAGE);
	metric(name, median(per, BATCHES), "ns");
}

/* First write to each page of fresh anonymous memory (zero-fill fault);
 * mapping and unmapping are outside the timed loop. */
static void bench_first_touch(void)
{
	const char *name = "first_touch_fault_per_page";
	struct outcome o = { OK, "" };
	double per[BATCHES];
	long len = FAULT_PAGES * PAGE;
	if (!wanted(name))
		return;
	for (int b = -1; b < BATCHES; b++) {
		char *p = map_anon(len, &o);
		if (!p)
			return report(name, &o);
		int64_t t0 = now_ns();
		touch(p, len, 1);
		int64_t ns = now_ns() - t0;
		munmap(p, len);
		if (b >= 0)
			per[b] = (double)ns / FAULT_PAGES;
	}
	metric(name, median(per, BATCHES), "ns");
}

/* ---- throughput ------------------------------------------------------- */

/* Whether sched_setaffinity works (probed once). */
static int can_pin;

static int pin_to(int cpu)
{
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	return sched_setaffinity(0, sizeof set, &set);
}

/* `workers` processes, worker w pinned to CPU w when possible, each doing
 * `n` fork+exit+wait; returns forks per second, or -1 with `o` set. */
static double fork_throughput(int workers, long n, struct outcome *o)
{
	pid_t pids[256];
	int64_t t0 = now_ns();
	for (int w = 0; w < workers; w++) {
		pids[w] = fork();
		if (pids[w] < 0) {
			syscall_failed(o, "fork", errno);
			while (w-- > 0)
				waitpid(pids[w], NULL, 0);
			return -1;
		}
		if (pids[w] == 0) {
			struct outcome child = { OK, "" };
			if (can_pin && pin_to(w) < 0)
				_exit(3);
			for (long i = 0; i < n; i++)
				if (fork_exit_wait(&child) < 0)
					_exit(child.kind == SKIPPED ? 2 : 1);
			_exit(0);
		}
	}
	int bad = 0;
	for (int w = 0; w < workers; w++)
		if (reap(pids[w], o) < 0)
			bad = 1;
	if (bad)
		return -1;
	return (double)workers * n / ((now_ns() - t0) / 1e9);
}

static int bench_throughput_of(const char *name, int workers, long n, double *result)
{
	struct outcome o = { OK, "" };
	double rate[BATCHES];
	for (int b = -1; b < BATCHES; b++) {
		double r = fork_throughput(workers, n, &o);
		if (r < 0) {
			report(name, &o);
			return -1;
		}
		if (b >= 0)
			rate[b] = r;
	}
	*result = median(rate, BATCHES);
	metric(name, *result, "forks/s");
	return 0;
}

/* Fork throughput with one worker and with one per CPU, and the ratio. */
static void bench_throughput(long n)
{
	char all[64];
	double one = 0, many = 0;
	int cpus = opt.cpus < 256 ? opt.cpus : 256;
	snprintf(all, sizeof all, "fork_throughput_%dcpu", cpus);
	if (!wanted("fork_throughput"))
		return;
	cpu_set_t set;
	CPU_ZERO(&set);
	for (int c = 0; c < cpus; c++)
		CPU_SET(c, &set);
	can_pin = sched_setaffinity(0, sizeof set, &set) == 0;
	if (!can_pin)
		printf("NOTE fork_throughput workers not pinned: sched_setaffinity: %s\n",
		       errno == ENOSYS ? "ENOSYS" : strerror(errno));
	int ok1 = bench_throughput_of("fork_throughput_1cpu", 1, n, &one) == 0;
	if (cpus < 2)
		return;
	int okn = bench_throughput_of(all, cpus, n, &many) == 0;
	if (ok1 && okn && one > 0)
		metric("fork_scaling", many / one, "x");
}

/* ---- main ------------------------------------------------------------- */

static int getpid_step(struct outcome *o)
{
	(void)o;
	syscall(SYS_getpid);
	return 0;
}

/* getpid in batches of 1000 calls per step, so that the clock is read
 * rarely; reported per call. */
static int getpid_1000(struct outcome *o)
{
	for (int i = 0; i < 1000; i++)
		getpid_step(o);
	return 0;
}

/* getppid in batches of 1000: a call that never waits (Tine answered it
 * through its thread loop's slow path before session 20). */
static int getppid_1000(struct outcome *o)
{
	(void)o;
	for (int i = 0; i < 1000; i++)
		syscall(SYS_getppid);
	return 0;
}

/* 1000 pairs of raw rt_sigprocmask: block every signal, then restore the
 * old mask (what musl's fork does twice in each process); reported per
 * pair. */
static int sigprocmask_1000(struct outcome *o)
{
	unsigned long all = ~0UL, old;
	for (int i = 0; i < 1000; i++) {
		if (syscall(SYS_rt_sigprocmask, SIG_BLOCK, &all, &old, 8) < 0 ||
		    syscall(SYS_rt_sigprocmask, SIG_SETMASK, &old, 0, 8) < 0)
			return syscall_failed(o, "rt_sigprocmask", errno);
	}
	return 0;
}

/* clock_gettime(CLOCK_MONOTONIC) through the C library (so through the
 * vDSO where the kernel offers one), 1000 calls per step. */
static int clock_1000(struct outcome *o)
{
	struct timespec ts;
	for (int i = 0; i < 1000; i++)
		if (clock_gettime(CLOCK_MONOTONIC, &ts) < 0)
			return syscall_failed(o, "clock_gettime", errno);
	return 0;
}

/* A workload of `n` steps of 1000 calls each, reported per call in ns. */
static void bench_calls(const char *name, step_fn *step, long n)
{
	struct outcome o = { OK, "" };
	double per[BATCHES];
	if (!wanted(name))
		return;
	if (time_steps(step, n, &o) < 0)
		return report(name, &o);
	for (int b = 0; b < BATCHES; b++) {
		int64_t ns = time_steps(step, n, &o);
		if (ns < 0)
			return report(name, &o);
		per[b] = (double)ns / (n * 1000.0);
	}
	metric(name, median(per, BATCHES), "ns");
}

/* ---- threads -------------------------------------------------------- */

static void *thread_nothing(void *arg)
{
	return arg;
}

static int pthread_create_join(struct outcome *o)
{
	pthread_t t;
	int err = pthread_create(&t, NULL, thread_nothing, NULL);
	if (err)
		return syscall_failed(o, "pthread_create", err);
	err = pthread_join(t, NULL);
	if (err)
		return syscall_failed(o, "pthread_join", err);
	return 0;
}

static long sys_futex(int *uaddr, int op, int val)
{
	return syscall(SYS_futex, uaddr, op | 128 /* FUTEX_PRIVATE_FLAG */, val, NULL, NULL, 0);
}

/* Ping-pong: `turn` goes 0 -> 1 (ping) -> 0 (pong), each side waking the
 * other through the futex and sleeping on it, never spinning. */
static int pp_turn;
static long pp_rounds;

static void *pong(void *arg)
{
	int cpu = (int)(intptr_t)arg;
	if (cpu >= 0)
		pin_to(cpu);
	for (long i = 0; i < pp_rounds; i++) {
		while (__atomic_load_n(&pp_turn, __ATOMIC_ACQUIRE) != 1)
			sys_futex(&pp_turn, 0 /* WAIT */, 0);
		__atomic_store_n(&pp_turn, 0, __ATOMIC_RELEASE);
		sys_futex(&pp_turn, 1 /* WAKE */, 1);
	}
	return NULL;
}

/* The ns per round trip of `rounds` ping-pongs with the pong thread on
 * CPU `other` and this one on CPU `mine` (-1: wherever). */
static double pingpong(int mine, int other, long rounds, struct outcome *o)
{
	pthread_t t;
	pp_turn = 0;
	pp_rounds = rounds;
	if (mine >= 0 && pin_to(mine) != 0) {
		set_outcome(o, SKIPPED, "sched_setaffinity: %s", strerror(errno));
		return -1;
	}
	int err = pthread_create(&t, NULL, pong, (void *)(intptr_t)other);
	if (err) {
		syscall_failed(o, "pthread_create", err);
		return -1;
	}
	int64_t t0 = now_ns();
	for (long i = 0; i < rounds; i++) {
		__atomic_store_n(&pp_turn, 1, __ATOMIC_RELEASE);
		sys_futex(&pp_turn, 1 /* WAKE */, 1);
		while (__atomic_load_n(&pp_turn, __ATOMIC_ACQUIRE) != 0)
			sys_futex(&pp_turn, 0 /* WAIT */, 1);
	}
	int64_t ns = now_ns() - t0;
	pthread_join(t, NULL);
	return (double)ns / rounds;
}

static void bench_pingpong(const char *name, int mine, int other, long rounds)
{
	struct outcome o = { OK, "" };
	double per[BATCHES];
	if (!wanted(name))
		return;
	if (pingpong(mine, other, rounds, &o) < 0)
		return report(name, &o);
	for (int b = 0; b < BATCHES; b++) {
		per[b] = pingpong(mine, other, rounds, &o);
		if (per[b] < 0)
			return report(name, &o);
	}
	metric(name, median(per, BATCHES), "ns");
}

/* Blocked threads: each waits on `park` until the bench ends. */
static int park;
static int parked;

static void *park_thread(void *arg)
{
	(void)arg;
	__atomic_fetch_add(&parked, 1, __ATOMIC_RELAXED);
	while (__atomic_load_n(&park, __ATOMIC_ACQUIRE) == 0)
		sys_futex(&park, 0 /* WAIT */, 0);
	return NULL;
}

/* Starts `n` parked threads with 16 KiB stacks; returns how many started. */
static long start_parked(pthread_t *t, long n, struct outcome *o)
{
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, 16384);
	__atomic_store_n(&park, 0, __ATOMIC_RELEASE);
	__atomic_store_n(&parked, 0, __ATOMIC_RELEASE);
	long made = 0;
	for (; made < n; made++) {
		int err = pthread_create(&t[made], &attr, park_thread, NULL);
		if (err) {
			syscall_failed(o, "pthread_create", err);
			break;
		}
	}
	while (__atomic_load_n(&parked, __ATOMIC_ACQUIRE) < made)
		sched_yield();
	/* Let them reach their futex wait. */
	usleep(20000);
	return made;
}

static void stop_parked(pthread_t *t, long n)
{
	__atomic_store_n(&park, 1, __ATOMIC_RELEASE);
	sys_futex(&park, 1 /* WAKE */, 0x7fffffff);
	for (long i = 0; i < n; i++)
		pthread_join(t[i], NULL);
}

/* Tine's meminfo (1009): heap bytes allocated, or -1 elsewhere. */
static long long kernel_heap_bytes(void)
{
	uint64_t rec[6];
	if (syscall(1009, rec, sizeof rec) < 0)
		return -1;
	return (long long)rec[3];
}

/* Tine's sysctl (1005) kern.maxproc, so 10,000 threads fit (threads count
 * against it as on Linux); ENOSYS on Linux, where kernel.threads-max is
 * raised instead (Linux sizes it from RAM: 4096 with 512 MiB). */
static void raise_maxproc(void)
{
	const char name[] = "kern.maxproc";
	const char value[] = "20000";
	syscall(1005, name, sizeof name - 1, NULL, NULL, value, sizeof value - 1);
	int fd = open("/proc/sys/kernel/threads-max", O_WRONLY);
	if (fd >= 0) {
		if (write(fd, value, sizeof value - 1) < 0)
			printf("NOTE threads-max: %s\n", strerror(errno));
		close(fd);
	}
}

static void bench_thread_memory(long n)
{
	const char *name = "thread_mem_10k";
	struct outcome o = { OK, "" };
	if (!wanted(name))
		return;
	raise_maxproc();
	pthread_t *t = calloc((size_t)n, sizeof *t);
	if (!t) {
		set_outcome(&o, FAILED, "calloc");
		return report(name, &o);
	}
	struct sysinfo before, after;
	long long heap0 = kernel_heap_bytes();
	sysinfo(&before);
	long made = start_parked(t, n, &o);
	sysinfo(&after);
	long long heap1 = kernel_heap_bytes();
	if (made == n) {
		double total = ((double)before.freeram - (double)after.freeram) * before.mem_unit;
		/* Everything: kernel structures, page tables and the touched
		 * pages of the user stacks. */
		metric("thread_mem_total", total / n / 1024.0, "KiB");
		if (heap0 >= 0 && heap1 >= 0)
			metric("thread_kheap", (double)(heap1 - heap0) / n, "B");
		else
			printf("NOTE thread_kheap no kernel heap figure here (Linux: a 16 KiB kernel stack + task_struct per thread)\n");
	}
	stop_parked(t, made);
	free(t);
	if (made != n)
		report(name, &o);
}

/* `step` (a fork, exit and wait) from a process with `n` (at most 64)
 * more threads parked, named `name`. */
static void bench_fork_threaded(const char *name, step_fn *step, long n, long iters_n)
{
	struct outcome o = { OK, "" };
	pthread_t t[64];
	if (!wanted(name))
		return;
	long made = start_parked(t, n, &o);
	descs = t;
	ndescs = made;
	if (made == n)
		bench_steps(name, step, iters_n, "us");
	else
		report(name, &o);
	ndescs = 0;
	stop_parked(t, made);
}

/* fork_raw_64threads_touch, and fork_64threads_child_writes: the median
 * time its children's 64 writes took, timed in the child (the faults
 * alone, without the child's exit freeing the copies). */
static void bench_touch(void)
{
	const char *name = "fork_raw_64threads_touch";
	if (!wanted(name))
		return;
	touch_times = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (touch_times == MAP_FAILED) {
		touch_times = NULL;
		struct outcome o = { OK, "" };
		syscall_failed(&o, "mmap", errno);
		return report(name, &o);
	}
	touch_times->n = 0;
	bench_fork_threaded(name, raw_fork_touch_exit_wait, 64, iters(64));
	long n = touch_times->n < TOUCH_TIMES ? touch_times->n : TOUCH_TIMES;
	if (n > 0)
		metric("fork_64threads_child_writes", median(touch_times->ns, (int)n) / 1000.0, "us");
	munmap(touch_times, PAGE);
	touch_times = NULL;
}

static void bench_threads(void)
{
	if (wanted("pthread_create_join"))
		bench_steps("pthread_create_join", pthread_create_join, iters(256), "us");
	bench_pingpong("futex_pingpong_same_cpu", 0, 0, iters(2000));
	if (opt.cpus >= 2)
		bench_pingpong("futex_pingpong_cross_cpu", 0, 1, iters(2000));
	else if (wanted("futex_pingpong_cross_cpu"))
		printf("SKIP futex_pingpong_cross_cpu one CPU\n");
	/* Pinned to CPU 0 as fork_exit_wait is, its comparison (the threads
	 * inherit the mask; they are parked), then on every CPU as
	 * fork_exit_wait_unpinned is. */
	if (pin_to(0) == 0) {
		bench_fork_threaded("fork_1thread", fork_exit_wait, 1, iters(64));
		bench_fork_threaded("fork_64threads", fork_exit_wait, 64, iters(64));
		if (wanted("fork_raw_exit_wait"))
			bench_steps("fork_raw_exit_wait", raw_fork_exit_wait, iters(64), "us");
		bench_fork_threaded("fork_raw_64threads", raw_fork_exit_wait, 64, iters(64));
		bench_touch();
	}
	cpu_set_t all;
	CPU_ZERO(&all);
	for (int c = 0; c < opt.cpus && c < CPU_SETSIZE; c++)
		CPU_SET(c, &all);
	sched_setaffinity(0, sizeof all, &all);
	bench_fork_threaded("fork_64threads_unpinned", fork_exit_wait, 64, iters(64));
	bench_thread_memory(10000);
}

static void usage(void)
{
	fprintf(stderr, "usage: forkbench [-c CPUS] [-s SCALE] [-n NOP] [-t MHZ] [NAME...]\n");
	exit(2);
}

/* Every workload, in the order run. */
static const struct {
	const char *name;
	step_fn *step;
	long base_iters;
	const char *unit;
} steps[] = {
	{ "fork_exit_wait", fork_exit_wait, 128, "us" },
	{ "vfork_exit_wait", vfork_exit_wait, 256, "us" },
	{ "vfork_exec_wait", vfork_exec_wait, 48, "us" },
	{ "fork_exec_wait", fork_exec_wait, 48, "us" },
	{ "posix_spawn_wait", posix_spawn_wait, 48, "us" },
};

/* Every latency workload, named with the current suffix. */
static void latencies(void)
{
	bench_calls("getpid", getpid_1000, iters(50));
	bench_calls("getppid", getppid_1000, iters(50));
	bench_calls("sigprocmask_pair", sigprocmask_1000, iters(25));
	bench_calls("clock_gettime", clock_1000, iters(100));
	for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++)
		if (wanted(steps[i].name))
			bench_steps(steps[i].name, steps[i].step,
				    iters(steps[i].base_iters), steps[i].unit);
	bench_fork_after(1, iters(64));
	bench_fork_after(16, iters(16));
	bench_fork_after(64, iters(8));
	bench_fork_after(256, iters(4));
	bench_cow(iters(4));
	bench_first_touch();
}

int main(int argc, char **argv)
{
	int c;
	double tsc_mhz = 0;
	while ((c = getopt(argc, argv, "c:s:n:t:")) != -1) {
		switch (c) {
		case 'c': opt.cpus = atoi(optarg); break;
		case 's': opt.scale = atof(optarg); break;
		case 'n': opt.nop = optarg; break;
		case 't': tsc_mhz = atof(optarg); break;
		default: usage();
		}
	}
	if (opt.cpus <= 0)
		opt.cpus = (int)sysconf(_SC_NPROCESSORS_ONLN);
	if (opt.cpus <= 0 || opt.scale <= 0)
		usage();
	opt.only = argv + optind;
	opt.nonly = argc - optind;
	printf("forkbench start cpus=%d scale=%g nop=%s\n", opt.cpus, opt.scale, opt.nop);
	fflush(stdout);

	/* The raw system call, because musl turns its ENOSYS into EINVAL. */
	struct timespec ts;
	if (syscall(SYS_clock_gettime, CLOCK_MONOTONIC, &ts) < 0) {
		int lacking = errno == ENOSYS;
		if (lacking && tsc_mhz > 0) {
			opt.tsc_mhz = tsc_mhz;
			printf("NOTE clock rdtsc at %g MHz (clock_gettime: ENOSYS)\n", tsc_mhz);
		} else {
			/* Nothing can be timed: say so once for every workload. */
			printf("SKIP all clock_gettime(CLOCK_MONOTONIC): %s\n",
			       lacking ? "ENOSYS (not implemented), and no -t MHZ" : strerror(errno));
			printf("forkbench done failures=%d\n", !lacking);
			return !lacking;
		}
	}

	cpu_set_t every;
	CPU_ZERO(&every);
	for (int c = 0; c < opt.cpus && c < CPU_SETSIZE; c++)
		CPU_SET(c, &every);
	if (pin_to(0) < 0)
		printf("NOTE latencies not pinned: sched_setaffinity: %s\n",
		       errno == ENOSYS ? "ENOSYS" : strerror(errno));
	latencies();
	sched_setaffinity(0, sizeof every, &every);
	suffix = "_unpinned";
	latencies();
	suffix = "";
	bench_throughput(iters(64));
	bench_threads();
	printf("forkbench done failures=%d\n", failures);
	return failures ? 1 : 0;
}
