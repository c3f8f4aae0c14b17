/*
 * minlat: per-operation latencies as the minimum (and 25th percentile and
 * median) over 41 short batches, for before/after comparisons on a loaded
 * host, where noise only ever adds time. Runs unchanged on Tine and Linux.
 *
 * Usage: minlat [-p] [NAME...]
 *   -p      pin to CPU 0 first (children inherit it)
 *   NAME    only the operations whose names start with one of these:
 *           getpid, getppid (off Tine's fast path until session 20),
 *           getuid (a call the trap loop runs after leaving user mode),
 *           sigprocmask (a pair of raw rt_sigprocmask: block every signal,
 *           restore the old mask), touch (first write to a fresh anonymous page), cow
 *           (a forked child writes 256 shared pages, timed in the child),
 *           cow_exit (the same, fork to wait, per page: with fork_exit's
 *           figure, what forkbench's cow_fault_per_page counts), vfork_exit,
 *           fork_exit, vfork_exec, spawn (posix_spawn; both of /bin/nop),
 *           rawfork (the raw fork system call, the child _exits),
 *           rawfork_t64 (the same with 64 more threads parked),
 *           rawfork_t64_touch (its child first rewrites a byte of each
 *           parked thread's descriptor: the pages musl's fork child
 *           writes), fork_t64 (musl's fork with the 64 threads)
 * Output: METRIC NAME_{min,p25,med} VALUE ns (forkbench's format), then
 * "minlat done".
 *
 * cargo xtask bench --compare-linux --skip-kernel \
 *     --program target/c/bench/minlat --program-arg=-p --rounds 2
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ops.h"

#define NB 41

static double now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1e9 + t.tv_nsec;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static void report(const char *name, double *v)
{
	qsort(v, NB, sizeof v[0], cmp);
	printf("METRIC %s_min %.1f ns\n", name, v[0]);
	printf("METRIC %s_p25 %.1f ns\n", name, v[NB / 4]);
	printf("METRIC %s_med %.1f ns\n", name, v[NB / 2]);
	fflush(stdout);
}

static int want(int argc, char **argv, const char *name)
{
	if (argc < 2)
		return 1;
	for (int i = 1; i < argc; i++)
		if (strncmp(name, argv[i], strlen(argv[i])) == 0)
			return 1;
	return 0;
}

/* Threads parked in FUTEX_WAIT until `park` is set. */
#define THREADS 64
static int park;
static pthread_t parked[THREADS];

static void *park_thread(void *arg)
{
	while (!__atomic_load_n(&park, __ATOMIC_ACQUIRE))
		syscall(SYS_futex, &park, 0 /* WAIT */, 0, 0, 0, 0);
	return arg;
}

/* Starts the 64 threads (16 KiB stacks); how many started. */
static int start_parked(void)
{
	pthread_attr_t attr;
	int n = 0;

	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, 16384);
	while (n < THREADS && pthread_create(&parked[n], &attr, park_thread, 0) == 0)
		n++;
	usleep(20000);
	return n;
}

static void stop_parked(int n)
{
	__atomic_store_n(&park, 1, __ATOMIC_RELEASE);
	syscall(SYS_futex, &park, 1 /* WAKE */, 0x7fffffff, 0, 0, 0);
	for (int i = 0; i < n; i++)
		pthread_join(parked[i], 0);
}

/* Raw forks (and, with `touch`, the child's writes to `touch` parked
 * threads' descriptors: musl's pthread_t is the descriptor's address),
 * 8 per batch. */
static void rawforks(const char *name, int touch, double *v)
{
	for (int b = 0; b < NB; b++) {
		double t = now_ns();

		for (int i = 0; i < 8; i++) {
			long c = syscall(SYS_fork);

			if (c == 0) {
				for (int k = 0; k < touch; k++) {
					volatile char *d = (volatile char *)parked[k];
					*d = *d;
				}
				syscall(SYS_exit_group, 0);
			}
			waitpid((pid_t)c, 0, 0);
		}
		v[b] = (now_ns() - t) / 8;
	}
	report(name, v);
}

/* System call `nr` without arguments, 2000 per batch. */
static void calls(const char *name, long nr, double *v)
{
	for (int b = 0; b < NB; b++) {
		double t = now_ns();

		for (int i = 0; i < 2000; i++)
			syscall(nr);
		v[b] = (now_ns() - t) / 2000;
	}
	report(name, v);
}

/* musl's fork, the child `_exit`s at once, 8 per batch. */
static void musl_forks(const char *name, double *v)
{
	for (int b = 0; b < NB; b++) {
		double t = now_ns();

		for (int i = 0; i < 8; i++) {
			pid_t c = fork();

			if (c == 0)
				_exit(0);
			waitpid(c, 0, 0);
		}
		v[b] = (now_ns() - t) / 8;
	}
	report(name, v);
}

int main(int argc, char **argv)
{
	double v[NB];

	if (argc > 1 && strcmp(argv[1], "-p") == 0) {
		cpu_set_t set;

		CPU_ZERO(&set);
		CPU_SET(0, &set);
		if (sched_setaffinity(0, sizeof set, &set) != 0)
			perror("sched_setaffinity");
		argv++;
		argc--;
	}
	if (want(argc, argv, "getpid"))
		calls("getpid", SYS_getpid, v);
	if (want(argc, argv, "getppid"))
		calls("getppid", SYS_getppid, v);
	if (want(argc, argv, "getuid"))
		calls("getuid", SYS_getuid, v);
	if (want(argc, argv, "sigprocmask")) {
		unsigned long all = ~0UL, old;

		for (int b = 0; b < NB; b++) {
			double t = now_ns();

			for (int i = 0; i < 1000; i++) {
				syscall(SYS_rt_sigprocmask, SIG_BLOCK, &all, &old, 8);
				syscall(SYS_rt_sigprocmask, SIG_SETMASK, &old, 0, 8);
			}
			v[b] = (now_ns() - t) / 1000;
		}
		report("sigprocmask", v);
	}
	if (want(argc, argv, "touch")) {
		for (int b = 0; b < NB; b++) {
			char *p = mmap(0, PAGES * PAGE, PROT_READ | PROT_WRITE,
				       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
			double t = now_ns();

			for (int i = 0; i < PAGES; i++)
				p[i * PAGE] = 1;
			v[b] = (now_ns() - t) / PAGES;
			munmap(p, PAGES * PAGE);
		}
		report("touch", v);
	}
	if (want(argc, argv, "cow")) {
		char *p = mmap(0, PAGES * PAGE, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		int fd[2];

		memset(p, 1, PAGES * PAGE);
		if (pipe(fd) != 0)
			return 1;
		for (int b = 0; b < NB; b++) {
			pid_t c = fork();

			if (c == 0) {
				double t = now_ns(), d;

				for (int i = 0; i < PAGES; i++)
					p[i * PAGE] = 2;
				d = (now_ns() - t) / PAGES;
				_exit(write(fd[1], &d, sizeof d) == sizeof d ? 0 : 1);
			}
			if (read(fd[0], &v[b], sizeof v[b]) != sizeof v[b])
				return 1;
			waitpid(c, 0, 0);
		}
		report("cow", v);
	}
	if (want(argc, argv, "cow_exit")) {
		char *p = mmap(0, PAGES * PAGE, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		memset(p, 1, PAGES * PAGE);
		for (int b = 0; b < NB; b++) {
			double t = now_ns();
			pid_t c = fork();

			if (c == 0) {
				for (int i = 0; i < PAGES; i++)
					p[i * PAGE] = 2;
				_exit(0);
			}
			waitpid(c, 0, 0);
			v[b] = (now_ns() - t) / PAGES;
		}
		munmap(p, PAGES * PAGE);
		report("cow_exit", v);
	}
	if (want(argc, argv, "vfork_exit")) {
		for (int b = 0; b < NB; b++) {
			double t = now_ns();

			for (int i = 0; i < 16; i++)
				vfork_exit_wait();
			v[b] = (now_ns() - t) / 16;
		}
		report("vfork_exit", v);
	}
	if (want(argc, argv, "fork_exit")) {
		musl_forks("fork_exit", v);
	}
	if (want(argc, argv, "vfork_exec")) {
		for (int b = 0; b < NB; b++) {
			double t = now_ns();

			for (int i = 0; i < 4; i++)
				vfork_exec_wait();
			v[b] = (now_ns() - t) / 4;
		}
		report("vfork_exec", v);
	}
	if (want(argc, argv, "spawn")) {
		for (int b = 0; b < NB; b++) {
			double t = now_ns();

			for (int i = 0; i < 4; i++) {
				pid_t c;

				if (posix_spawn(&c, nop[0], 0, 0, nop, environ) == 0)
					waitpid(c, 0, 0);
			}
			v[b] = (now_ns() - t) / 4;
		}
		report("spawn", v);
	}
	if (want(argc, argv, "rawfork_"))
		rawforks("rawfork", 0, v);
	if (want(argc, argv, "rawfork_t64") || want(argc, argv, "fork_t64")) {
		int n = start_parked();

		if (want(argc, argv, "rawfork_t64"))
			rawforks("rawfork_t64", 0, v);
		if (want(argc, argv, "rawfork_t64_touch"))
			rawforks("rawfork_t64_touch", n, v);
		if (want(argc, argv, "fork_t64")) {
			musl_forks("fork_t64", v);
		}
		stop_parked(n);
	}
	printf("minlat done\n");
	return 0;
}
