/*
 * oploop: repeat one operation for a while, pinned to CPU 0, for a
 * sampling profile (tools/guestprof.py waits for "loop start").
 *
 * Usage: oploop OP SECONDS, OP one of getpid, getppid, getuid (a call the
 * trap loop runs after leaving user mode, syscall::now), sigprocmask (raw
 * rt_sigprocmask pairs: block
 * every signal, restore), touch (first touch of 256 fresh pages), cow (a
 * forked child writes 256 shared pages), fork_exit, vfork_exit,
 * vfork_exec, spawn (both of /bin/nop). Prints "loop done n=N per=NS ns".
 */
#define _GNU_SOURCE
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

static double now_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec * 1e-9;
}

int main(int argc, char **argv)
{
	cpu_set_t set;
	const char *op;
	double secs, end;
	long n = 0;
	char *p;

	if (argc != 3) {
		fprintf(stderr, "usage: oploop OP SECONDS\n");
		return 2;
	}
	op = argv[1];
	secs = atof(argv[2]);
	CPU_ZERO(&set);
	CPU_SET(0, &set);
	sched_setaffinity(0, sizeof set, &set);
	p = mmap(0, PAGES * PAGE, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	memset(p, 1, PAGES * PAGE);
	printf("loop start\n");
	fflush(stdout);
	end = now_s() + secs;
	while (now_s() < end) {
		pid_t c;

		if (strcmp(op, "getpid") == 0) {
			for (int i = 0; i < 1000; i++)
				syscall(SYS_getpid);
			n += 1000;
		} else if (strcmp(op, "getppid") == 0) {
			for (int i = 0; i < 1000; i++)
				syscall(SYS_getppid);
			n += 1000;
		} else if (strcmp(op, "getuid") == 0) {
			for (int i = 0; i < 1000; i++)
				syscall(SYS_getuid);
			n += 1000;
		} else if (strcmp(op, "sigprocmask") == 0) {
			unsigned long all = ~0UL, old;

			for (int i = 0; i < 1000; i++) {
				syscall(SYS_rt_sigprocmask, SIG_BLOCK, &all, &old, 8);
				syscall(SYS_rt_sigprocmask, SIG_SETMASK, &old, 0, 8);
			}
			n += 1000;
		} else if (strcmp(op, "touch") == 0) {
			char *q = mmap(0, PAGES * PAGE, PROT_READ | PROT_WRITE,
				       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

			for (int i = 0; i < PAGES; i++)
				q[i * PAGE] = 1;
			munmap(q, PAGES * PAGE);
			n += PAGES;
		} else if (strcmp(op, "cow") == 0) {
			c = fork();
			if (c == 0) {
				for (int i = 0; i < PAGES; i++)
					p[i * PAGE] = 2;
				_exit(0);
			}
			waitpid(c, 0, 0);
			n += PAGES;
		} else if (strcmp(op, "fork_exit") == 0) {
			/* musl's fork: its child writes its thread descriptor (data). */
			c = fork();
			if (c == 0)
				_exit(0);
			waitpid(c, 0, 0);
			n++;
		} else if (strcmp(op, "vfork_exit") == 0) {
			vfork_exit_wait();
			n++;
		} else if (strcmp(op, "vfork_exec") == 0) {
			vfork_exec_wait();
			n++;
		} else if (strcmp(op, "spawn") == 0) {
			if (posix_spawn(&c, nop[0], 0, 0, nop, environ) == 0)
				waitpid(c, 0, 0);
			n++;
		} else {
			fprintf(stderr, "oploop: unknown operation %s\n", op);
			return 2;
		}
	}
	printf("loop done n=%ld per=%.1f ns\n", n, n ? secs * 1e9 / n : 0.0);
	return 0;
}
