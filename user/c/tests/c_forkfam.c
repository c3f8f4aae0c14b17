/*
 * /test/c_forkfam: the fork family through musl, as a program written
 * for Linux would use it: vfork (the child runs first, in the parent's
 * memory), vfork + execve, posix_spawn and posix_spawnp (success, and
 * ENOENT for a missing program, which musl learns through a close-on-exec
 * pipe from a CLONE_VM|CLONE_VFORK child), clone() with a private stack,
 * and wait4 with statuses and rusage. Exits 0 when every check holds;
 * each failure is printed. Runs unchanged on Linux.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

static const char *me = "c_forkfam";
#include "check.h"

/* The program every spawn runs: exits 0 (built from user/c/bin/nop.c). */
static const char *nop = "/bin/nop";

static int status_of(pid_t pid)
{
	int status = -1;
	struct rusage ru;
	pid_t got = wait4(pid, &status, 0, &ru);
	CHECK(got == pid);
	return status;
}

static volatile int shared_mark;

static void test_vfork(void)
{
	shared_mark = 0;
	pid_t pid = vfork();
	if (pid == 0) {
		/* The parent is suspended: this store is in its memory. */
		shared_mark = getpid();
		_exit(3);
	}
	CHECK(pid > 0);
	CHECK(shared_mark == pid);
	int st = status_of(pid);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 3);
}

static void test_vfork_exec(void)
{
	pid_t pid = vfork();
	if (pid == 0) {
		char *argv[] = { (char *)nop, NULL };
		execve(nop, argv, environ);
		_exit(127);
	}
	CHECK(pid > 0);
	int st = status_of(pid);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);

	/* A failed exec in a vfork child: the child reports, the parent
	 * goes on. */
	pid = vfork();
	if (pid == 0) {
		char *argv[] = { "/no/such/program", NULL };
		execve(argv[0], argv, environ);
		_exit(errno == ENOENT ? 42 : 43);
	}
	st = status_of(pid);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 42);
}

static void test_posix_spawn(void)
{
	pid_t pid = -1;
	char *argv[] = { (char *)nop, NULL };
	int err = posix_spawn(&pid, nop, NULL, NULL, argv, environ);
	CHECK(err == 0);
	if (err == 0) {
		int st = status_of(pid);
		CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	}

	/* A missing program: posix_spawn itself returns ENOENT. */
	char *missing[] = { "/no/such/program", NULL };
	err = posix_spawn(&pid, missing[0], NULL, NULL, missing, environ);
	CHECK(err == ENOENT);
	/* No child is left behind. */
	CHECK(waitpid(-1, NULL, WNOHANG) == -1 && errno == ECHILD);

	/* posix_spawnp searches PATH. */
	char path[128] = "PATH=";
	const char *slash = strrchr(nop, '/');
	strncat(path, nop, slash - nop);
	char *envp[] = { path, NULL };
	char *nopv[] = { (char *)slash + 1, NULL };
	err = posix_spawnp(&pid, slash + 1, NULL, NULL, nopv, envp);
	CHECK(err == 0);
	if (err == 0) {
		int st = status_of(pid);
		CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	}

	/* File actions: the child's stdout goes to /dev/null. */
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", 1 /* O_WRONLY */, 0);
	err = posix_spawn(&pid, nop, &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	CHECK(err == 0);
	if (err == 0) {
		int st = status_of(pid);
		CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	}
}

static char clone_stack[64 * 1024] __attribute__((aligned(16)));

static int clone_child(void *arg)
{
	*(volatile int *)arg = 77;
	return 5;
}

static void test_clone(void)
{
	volatile int seen = 0;
	pid_t pid = clone(clone_child, clone_stack + sizeof clone_stack,
			  CLONE_VM | CLONE_VFORK | SIGCHLD, (void *)&seen);
	CHECK(pid > 0);
	CHECK(seen == 77);
	int st = status_of(pid);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 5);

	/* Without CLONE_VM the child's store stays in its copy. */
	seen = 0;
	pid = clone(clone_child, clone_stack + sizeof clone_stack, SIGCHLD,
		    (void *)&seen);
	CHECK(pid > 0);
	st = status_of(pid);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 5);
	CHECK(seen == 0);

	/* CLONE_SIGHAND without CLONE_VM is EINVAL. */
	pid = clone(clone_child, clone_stack + sizeof clone_stack,
		    CLONE_SIGHAND | SIGCHLD, (void *)&seen);
	CHECK(pid == -1 && errno == EINVAL);
}

static void test_wait_statuses(void)
{
	pid_t pid = fork();
	if (pid == 0) {
		raise(SIGKILL);
		_exit(0);
	}
	int st = status_of(pid);
	CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);

	/* Many children, reaped in any order. */
	enum { N = 8 };
	for (int i = 0; i < N; i++) {
		pid = fork();
		if (pid == 0)
			_exit(i);
		CHECK(pid > 0);
	}
	int seen = 0;
	for (int i = 0; i < N; i++) {
		int s;
		pid_t got = wait4(-1, &s, 0, NULL);
		CHECK(got > 0 && WIFEXITED(s));
		if (got > 0 && WIFEXITED(s))
			seen |= 1 << WEXITSTATUS(s);
	}
	CHECK(seen == (1 << N) - 1);
	CHECK(wait4(-1, NULL, WNOHANG, NULL) == -1 && errno == ECHILD);
}

int main(int argc, char **argv)
{
	/* On another system: the path of a program that exits 0. */
	if (argc > 1)
		nop = argv[1];
	test_vfork();
	test_vfork_exec();
	test_posix_spawn();
	test_clone();
	test_wait_statuses();
	return check_report();
}
