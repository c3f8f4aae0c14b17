/*
 * /test/c_process: the process calls through musl: fork returns twice
 * with the right PIDs, copy-on-write isolation, waitpid statuses (exit
 * codes, death by SIGSEGV and SIGKILL), execve with argv, envp and the
 * auxiliary vector checked in the new image (getauxval), execve errors
 * that leave the caller running, EFAULT and ENOSYS through syscall(),
 * a SIGCHLD handler's waitpid(WNOHANG) finding the child that sent it,
 * sched_setaffinity really moving the thread. Exits 0 when every check
 * holds; each failure is printed. Runs unchanged on Linux.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char *me = "c_process";
#include "check.h"

static int shared_value = 1;

/* The exec'd image: argv, envp, auxv. Exits 42 when all hold. */
static int child_image(int argc, char **argv)
{
	me = "c_process --child";
	CHECK(argc == 3);
	CHECK(argc == 3 && strcmp(argv[2], "two words") == 0);
	CHECK(strcmp(getenv("C_TEST") ? getenv("C_TEST") : "", "yes") == 0);
	CHECK(getenv("EMPTY") && getenv("EMPTY")[0] == 0);
	CHECK(shared_value == 1);
	CHECK(getauxval(AT_PAGESZ) == 4096);
	CHECK(getauxval(AT_PHENT) == 56 && getauxval(AT_PHNUM) > 0);
	CHECK(getauxval(AT_PHDR) != 0 && getauxval(AT_ENTRY) != 0);
	CHECK(getauxval(AT_UID) == getuid() && getauxval(AT_EGID) == getegid());
	CHECK(getauxval(AT_SECURE) == 0);
	const unsigned char *rnd = (const unsigned char *)getauxval(AT_RANDOM);
	CHECK(rnd != NULL);
	const char *fn = (const char *)getauxval(AT_EXECFN);
	CHECK(fn && strcmp(fn, "/test/c_process") == 0);
	return check_report() == 0 ? 42 : 1;
}

static int status_of(pid_t pid)
{
	int status = -1;
	if (waitpid(pid, &status, 0) != pid)
		return -1;
	return status;
}

static volatile sig_atomic_t got_chld;

static void on_chld(int sig)
{
	(void)sig;
	got_chld = 1;
}

/*
 * Busybox ash's wait loop: SIGCHLD blocked, sigsuspend until its handler
 * has run, then waitpid(WNOHANG), which must find the child whose exit
 * sent the signal (it is reapable by the time its SIGCHLD is seen, even
 * with the child exiting on another CPU).
 */
static void sigchld_then_wnohang(void)
{
	struct sigaction sa = {0}, old;
	sa.sa_handler = on_chld;
	sigemptyset(&sa.sa_mask);
	CHECK(sigaction(SIGCHLD, &sa, &old) == 0);
	sigset_t chld, orig;
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	CHECK(sigprocmask(SIG_BLOCK, &chld, &orig) == 0);
	int missed = 0, wrong = 0;
	for (int i = 0; i < 200; i++) {
		got_chld = 0;
		pid_t pid = fork();
		if (pid == 0)
			_exit(3);
		if (pid < 0) {
			wrong++;
			break;
		}
		while (!got_chld)
			sigsuspend(&orig);
		int st = -1;
		pid_t r = waitpid(-1, &st, WNOHANG);
		if (r == 0) {
			missed++;
			r = waitpid(pid, &st, 0);
		}
		if (r != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 3)
			wrong++;
	}
	CHECK(missed == 0);
	CHECK(wrong == 0);
	if (missed != 0)
		printf("%s: waitpid(WNOHANG) after SIGCHLD found nothing %d of 200 times\n",
		       me, missed);
	CHECK(sigprocmask(SIG_SETMASK, &orig, NULL) == 0);
	CHECK(sigaction(SIGCHLD, &old, NULL) == 0);
}

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "--child") == 0)
		return child_image(argc, argv);

	pid_t self = getpid();
	pid_t pid = fork();
	if (pid == 0) {
		shared_value = 2;
		_exit(getppid() == self && getpid() != self ? 7 : 1);
	}
	CHECK(pid > 0 && pid != self);
	int st = status_of(pid);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 7);
	CHECK(shared_value == 1);

	pid = fork();
	if (pid == 0) {
		*(volatile int *)0 = 1;
		_exit(0);
	}
	st = status_of(pid);
	CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV);

	pid = fork();
	if (pid == 0) {
		for (;;)
			sched_yield();
	}
	CHECK(kill(pid, SIGKILL) == 0);
	st = status_of(pid);
	CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
	errno = 0;
	CHECK(waitpid(-1, &st, 0) == -1 && errno == ECHILD);

	/* execve errors leave us running. */
	char *no_args[] = {"x", NULL};
	char *no_env[] = {NULL};
	errno = 0;
	CHECK(execve("/nonexistent", no_args, no_env) == -1 && errno == ENOENT);
	errno = 0;
	CHECK(execve("/test", no_args, no_env) == -1 && errno == EACCES);
	errno = 0;
	CHECK(execve("/test-data/not-elf", no_args, no_env) == -1 &&
	      errno == ENOEXEC);
	/* Bad pointers, hidden from the compiler's checks. */
	char *volatile bad_path = (char *)1;
	char **volatile bad_argv = (char **)16;
	errno = 0;
	CHECK(execve(bad_path, no_args, no_env) == -1 && errno == EFAULT);
	errno = 0;
	CHECK(execve("/test/c_process", bad_argv, no_env) == -1 &&
	      errno == EFAULT);

	pid = fork();
	if (pid == 0) {
		shared_value = 5;
		char *args[] = {"c_process", "--child", "two words", NULL};
		char *env[] = {"C_TEST=yes", "EMPTY=", NULL};
		execve("/test/c_process", args, env);
		_exit(100);
	}
	st = status_of(pid);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 42);

	errno = 0;
	CHECK(syscall(SYS_write, 1, (void *)1, 5) == -1 && errno == EFAULT);
	errno = 0;
	CHECK(syscall(SYS_clock_gettime, CLOCK_MONOTONIC, (void *)8) == -1 &&
	      errno == EFAULT);
	errno = 0;
	CHECK(syscall(9999) == -1 && errno == ENOSYS);

	sigchld_then_wnohang();

	cpu_set_t all, one;
	CHECK(sched_getaffinity(0, sizeof all, &all) == 0);
	int n = CPU_COUNT(&all);
	CHECK(n >= 1);
	for (int cpu = 0; cpu < n; cpu++) {
		CPU_ZERO(&one);
		CPU_SET(cpu, &one);
		CHECK(sched_setaffinity(0, sizeof one, &one) == 0);
		int ok = 1;
		for (int i = 0; i < 20; i++) {
			ok &= sched_getcpu() == cpu;
			sched_yield();
		}
		CHECK(ok);
	}
	CPU_ZERO(&one);
	errno = 0;
	CHECK(sched_setaffinity(0, sizeof one, &one) == -1 && errno == EINVAL);
	CHECK(sched_setaffinity(0, sizeof all, &all) == 0);
	return check_report();
}
