/*
 * allocs: kernel heap allocations per operation, on Tine (the read-only
 * knob debug.heap_allocs counts every allocation since boot). Each
 * operation runs 64 times to warm up, then 256 times between two reads
 * of the knob; the reads' own allocations (a pair of reads with nothing
 * between, measured first) are taken off. The count is machine-wide, so
 * another CPU's work (a timer, a reaping task) may add a fraction.
 * On Linux (no such call) it says so and exits 0.
 *
 * Usage: allocs [-p] [NAME...]: -p pins to CPU 0 first; NAMEs as
 * minlat's (vfork_exit, fork_exit, vfork_exec, spawn; all by default).
 * Output: "ALLOCS NAME N.NN per op" lines, then "allocs done".
 */
#define _GNU_SOURCE
#include <sched.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ops.h"

#define TINE_SYSCTL 1005
#define WARM 64
#define RUNS 256

static long heap_allocs(void)
{
	static const char name[] = "debug.heap_allocs";
	char buf[32];
	size_t len = sizeof buf - 1;

	if (syscall(TINE_SYSCTL, name, sizeof name - 1, buf, &len, 0, 0) != 0)
		return -1;
	buf[len < sizeof buf ? len : sizeof buf - 1] = 0;
	return atol(buf);
}

static void nothing(void)
{
}

static void fork_exit_wait(void)
{
	pid_t c = fork();

	if (c == 0)
		_exit(0);
	waitpid(c, 0, 0);
}

static void spawn_wait(void)
{
	pid_t c;

	if (posix_spawn(&c, nop[0], 0, 0, nop, environ) == 0)
		waitpid(c, 0, 0);
}

static const struct {
	const char *name;
	void (*op)(void);
} ops[] = {
	{ "vfork_exit", vfork_exit_wait },
	{ "fork_exit", fork_exit_wait },
	{ "vfork_exec", vfork_exec_wait },
	{ "spawn", spawn_wait },
};

static double per_op(void (*op)(void), double base)
{
	long a, b;

	for (int i = 0; i < WARM; i++)
		op();
	a = heap_allocs();
	for (int i = 0; i < RUNS; i++)
		op();
	b = heap_allocs();
	return (double)(b - a - base) / RUNS;
}

static int want(int argc, char **argv, const char *name)
{
	if (argc < 2)
		return 1;
	for (int i = 1; i < argc; i++)
		if (strcmp(name, argv[i]) == 0)
			return 1;
	return 0;
}

int main(int argc, char **argv)
{
	long a, b;
	double base;

	if (argc > 1 && strcmp(argv[1], "-p") == 0) {
		cpu_set_t set;

		CPU_ZERO(&set);
		CPU_SET(0, &set);
		if (sched_setaffinity(0, sizeof set, &set) != 0)
			perror("sched_setaffinity");
		argv++;
		argc--;
	}
	if (heap_allocs() < 0) {
		printf("allocs: no debug.heap_allocs here\nallocs done\n");
		return 0;
	}
	a = heap_allocs();
	b = heap_allocs();
	base = b - a;
	per_op(nothing, 0);
	for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++)
		if (want(argc, argv, ops[i].name))
			printf("ALLOCS %s %.2f per op\n", ops[i].name,
			       per_op(ops[i].op, base));
	printf("allocs done\n");
	return 0;
}
