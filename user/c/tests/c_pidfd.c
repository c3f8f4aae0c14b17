/*
 * /test/c_pidfd: process descriptors and clone3 through musl, as a
 * program written for Linux uses them: pidfd_open (flags, errors, a pidfd
 * that polls readable when its process exits), pidfd_send_signal (with
 * and without a siginfo, and through an open /proc/PID), pidfd_getfd, waitid with P_ALL, P_PID, P_PGID
 * and P_PIDFD and WEXITED/WSTOPPED/WCONTINUED/WNOHANG/WNOWAIT filling
 * siginfo_t, and clone3: struct size versions (EINVAL, E2BIG), CLONE_PIDFD,
 * exit_signal, CLONE_CLEAR_SIGHAND, set_tid and CLONE_INTO_CGROUP
 * refusals. Exits 0 when every check holds; each failure is printed. Runs
 * unchanged on Linux (as root).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef SYS_pidfd_send_signal
#define SYS_pidfd_send_signal 424
#endif
#ifndef SYS_pidfd_getfd
#define SYS_pidfd_getfd 438
#endif
#ifndef P_PIDFD
#define P_PIDFD 3
#endif
#define PIDFD_NONBLOCK O_NONBLOCK
#define CLONE_PIDFD_ 0x00001000ULL
#define CLONE_CLEAR_SIGHAND_ 0x100000000ULL
#define CLONE_INTO_CGROUP_ 0x200000000ULL

static const char *me = "c_pidfd";
#include "check.h"

/* struct clone_args, version 2 (88 bytes). */
struct clone_args_v2 {
	uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack,
		stack_size, tls, set_tid, set_tid_size, cgroup;
};

static int pidfd_open(pid_t pid, unsigned flags)
{
	return syscall(SYS_pidfd_open, pid, flags);
}

static int pidfd_send_signal(int fd, int sig, siginfo_t *info, unsigned flags)
{
	return syscall(SYS_pidfd_send_signal, fd, sig, info, flags);
}

static long clone3(void *args, size_t size)
{
	return syscall(SYS_clone3, args, size);
}

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* A child that waits to be killed. */
static pid_t idle_child(void)
{
	pid_t pid = fork();
	if (pid == 0) {
		for (;;)
			pause();
	}
	return pid;
}

static void test_pidfd_open(void)
{
	int fd = pidfd_open(getpid(), 0);
	CHECK(fd >= 0);
	CHECK(fcntl(fd, F_GETFD) == FD_CLOEXEC);
	struct pollfd p = {.fd = fd, .events = POLLIN};
	CHECK(poll(&p, 1, 0) == 0);
	close(fd);
	errno = 0;
	CHECK(pidfd_open(-1, 0) == -1 && errno == EINVAL);
	errno = 0;
	CHECK(pidfd_open(0, 0) == -1 && errno == EINVAL);
	errno = 0;
	CHECK(pidfd_open(getpid(), 0x1) == -1 && errno == EINVAL);
	/* A PID nobody has (the largest one Linux allows is 4194304). */
	errno = 0;
	CHECK(pidfd_open(4194303, 0) == -1 && errno == ESRCH);
}

/* Kill through a pidfd; the pidfd polls readable; waitid(P_PIDFD). */
static void test_kill_poll_waitid(void)
{
	pid_t pid = idle_child();
	int fd = pidfd_open(pid, 0);
	CHECK(fd >= 0);
	struct pollfd p = {.fd = fd, .events = POLLIN};
	CHECK(poll(&p, 1, 0) == 0);
	/* siginfo whose signal is not the one sent: EINVAL; a forged
	 * si_code for another process: EPERM. */
	siginfo_t info;
	memset(&info, 0, sizeof info);
	info.si_signo = SIGUSR2;
	info.si_code = SI_QUEUE;
	errno = 0;
	CHECK(pidfd_send_signal(fd, SIGUSR1, &info, 0) == -1 &&
	      errno == EINVAL);
	info.si_signo = SIGUSR1;
	info.si_code = SI_USER;
	errno = 0;
	CHECK(pidfd_send_signal(fd, SIGUSR1, &info, 0) == -1 &&
	      errno == EPERM);
	errno = 0;
	CHECK(pidfd_send_signal(fd, 0, NULL, 0x40) == -1 && errno == EINVAL);
	errno = 0;
	CHECK(pidfd_send_signal(fd, 99, NULL, 0) == -1 && errno == EINVAL);
	errno = 0;
	CHECK(pidfd_send_signal(0, SIGKILL, NULL, 0) == -1 && errno == EBADF);
	errno = 0;
	CHECK(pidfd_send_signal(fd, SIGKILL, (void *)16, 0) == -1 &&
	      errno == EFAULT);
	CHECK(pidfd_send_signal(fd, 0, NULL, 0) == 0);
	CHECK(pidfd_send_signal(fd, SIGKILL, NULL, 0) == 0);
	CHECK(poll(&p, 1, 10000) == 1 && (p.revents & POLLIN));
	/* A zombie still exists: the signal is accepted and ignored. */
	CHECK(pidfd_send_signal(fd, SIGTERM, NULL, 0) == 0);
	siginfo_t si;
	memset(&si, 0xff, sizeof si);
	CHECK(waitid(P_PIDFD, fd, &si, WEXITED) == 0);
	CHECK(si.si_signo == SIGCHLD && si.si_code == CLD_KILLED);
	CHECK(si.si_pid == pid && si.si_status == SIGKILL);
	CHECK(si.si_uid == getuid());
	/* Reaped: still readable, signals ESRCH, nothing to wait for. */
	CHECK(poll(&p, 1, 0) == 1 && (p.revents & POLLIN));
	errno = 0;
	CHECK(pidfd_send_signal(fd, SIGTERM, NULL, 0) == -1 && errno == ESRCH);
	errno = 0;
	CHECK(waitid(P_PIDFD, fd, &si, WEXITED) == -1 && errno == ECHILD);
	close(fd);
}

/* An open /proc/PID directory serves pidfd_send_signal as a pidfd (and
 * only it: waitid and pidfd_getfd want a real pidfd); it keeps naming
 * the process it was opened for, so once that is reaped it is ESRCH. */
static void test_proc_dir_as_pidfd(void)
{
	pid_t pid = idle_child();
	char path[32];
	snprintf(path, sizeof path, "/proc/%d", (int)pid);
	int dir = open(path, O_RDONLY | O_DIRECTORY);
	CHECK(dir >= 0);
	CHECK(pidfd_send_signal(dir, 0, NULL, 0) == 0);
	siginfo_t si;
	errno = 0;
	CHECK(waitid(P_PIDFD, dir, &si, WEXITED | WNOHANG) == -1 &&
	      errno == EBADF);
	errno = 0;
	CHECK(syscall(SYS_pidfd_getfd, dir, 0, 0) == -1 && errno == EBADF);
	/* PIDFD_SIGNAL_THREAD (1): the leader thread, here the only one. */
	CHECK(pidfd_send_signal(dir, SIGKILL, NULL, 1) == 0);
	int status;
	CHECK(waitpid(pid, &status, 0) == pid && WIFSIGNALED(status) &&
	      WTERMSIG(status) == SIGKILL);
	errno = 0;
	CHECK(pidfd_send_signal(dir, 0, NULL, 0) == -1 && errno == ESRCH);
	close(dir);
	/* /proc/self too; a file below it is no pidfd. */
	int self = open("/proc/self", O_RDONLY | O_DIRECTORY);
	CHECK(self >= 0 && pidfd_send_signal(self, 0, NULL, 0) == 0);
	close(self);
	int stat = open("/proc/self/stat", O_RDONLY);
	errno = 0;
	CHECK(stat >= 0 && pidfd_send_signal(stat, 0, NULL, 0) == -1 &&
	      errno == EBADF);
	close(stat);
}

/* A poll that sleeps on a pidfd is woken by the exit. */
static void test_poll_wakes_at_exit(void)
{
	pid_t pid = fork();
	if (pid == 0) {
		sleep_ms(50);
		_exit(5);
	}
	int fd = pidfd_open(pid, 0);
	CHECK(fd >= 0);
	struct pollfd p = {.fd = fd, .events = POLLIN};
	CHECK(poll(&p, 1, 10000) == 1 && p.revents == POLLIN);
	int status;
	CHECK(waitpid(pid, &status, 0) == pid && WEXITSTATUS(status) == 5);
	close(fd);
}

static void test_waitid(void)
{
	siginfo_t si;
	/* WNOWAIT leaves the zombie; the next wait reaps it. */
	pid_t pid = fork();
	if (pid == 0)
		_exit(3);
	memset(&si, 0, sizeof si);
	CHECK(waitid(P_PID, pid, &si, WEXITED | WNOWAIT) == 0);
	CHECK(si.si_code == CLD_EXITED && si.si_status == 3 &&
	      si.si_pid == pid);
	memset(&si, 0, sizeof si);
	CHECK(waitid(P_ALL, 0, &si, WEXITED) == 0);
	CHECK(si.si_pid == pid && si.si_status == 3);
	errno = 0;
	CHECK(waitid(P_PID, pid, &si, WEXITED) == -1 && errno == ECHILD);
	/* WNOHANG with a running child: 0 and si_pid 0. */
	pid = idle_child();
	memset(&si, 0xff, sizeof si);
	CHECK(waitid(P_PID, pid, &si, WEXITED | WNOHANG) == 0);
	CHECK(si.si_pid == 0 && si.si_signo == 0);
	/* A non-blocking pidfd: EAGAIN instead. */
	int fd = pidfd_open(pid, PIDFD_NONBLOCK);
	CHECK(fd >= 0);
	errno = 0;
	CHECK(waitid(P_PIDFD, fd, &si, WEXITED) == -1 && errno == EAGAIN);
	/* Stopped, continued, killed: each reported once, in siginfo. */
	CHECK(kill(pid, SIGSTOP) == 0);
	memset(&si, 0, sizeof si);
	CHECK(waitid(P_PID, pid, &si, WSTOPPED) == 0);
	CHECK(si.si_code == CLD_STOPPED && si.si_status == SIGSTOP);
	CHECK(kill(pid, SIGCONT) == 0);
	memset(&si, 0, sizeof si);
	CHECK(waitid(P_PIDFD, fd, &si, WCONTINUED) == 0);
	CHECK(si.si_code == CLD_CONTINUED && si.si_status == SIGCONT);
	CHECK(kill(pid, SIGKILL) == 0);
	/* The descriptor is non-blocking: wait for the exit first. */
	struct pollfd p = {.fd = fd, .events = POLLIN};
	CHECK(poll(&p, 1, 10000) == 1);
	memset(&si, 0, sizeof si);
	CHECK(waitid(P_PIDFD, fd, &si, WEXITED) == 0);
	CHECK(si.si_code == CLD_KILLED && si.si_pid == pid);
	close(fd);
	/* P_PGID: a child in its own group. */
	pid = fork();
	if (pid == 0) {
		setpgid(0, 0);
		_exit(9);
	}
	setpgid(pid, pid);
	memset(&si, 0, sizeof si);
	CHECK(waitid(P_PGID, pid, &si, WEXITED) == 0);
	CHECK(si.si_pid == pid && si.si_status == 9);
	/* Errors. */
	errno = 0;
	CHECK(waitid(P_ALL, 0, &si, 0) == -1 && errno == EINVAL);
	errno = 0;
	CHECK(waitid(P_ALL, 0, &si, WEXITED | 0x100) == -1 && errno == EINVAL);
	errno = 0;
	CHECK(waitid(P_PID, 0, &si, WEXITED) == -1 && errno == EINVAL);
	errno = 0;
	CHECK(waitid(7, 0, &si, WEXITED) == -1 && errno == EINVAL);
	errno = 0;
	CHECK(waitid(P_PIDFD, 0, &si, WEXITED) == -1 && errno == EBADF);
	errno = 0;
	CHECK(waitid(P_ALL, 0, &si, WEXITED) == -1 && errno == ECHILD);
}

static void test_pidfd_getfd(void)
{
	int p[2], go[2];
	CHECK(pipe(p) == 0 && pipe(go) == 0);
	pid_t pid = fork();
	if (pid == 0) {
		/* Only the child keeps the write end, at 50. */
		dup2(p[1], 50);
		close(p[1]);
		close(p[0]);
		char c;
		close(go[1]);
		(void)read(go[0], &c, 1);
		_exit(0);
	}
	close(p[1]);
	close(go[0]);
	int fd = pidfd_open(pid, 0);
	CHECK(fd >= 0);
	/* Wait until the child has moved its descriptor. */
	int got = -1;
	for (int i = 0; i < 1000 && got < 0; i++) {
		got = syscall(SYS_pidfd_getfd, fd, 50, 0);
		if (got < 0)
			sleep_ms(5);
	}
	CHECK(got >= 0);
	CHECK(fcntl(got, F_GETFD) == FD_CLOEXEC);
	CHECK(write(got, "m", 1) == 1);
	char c = 0;
	CHECK(read(p[0], &c, 1) == 1 && c == 'm');
	errno = 0;
	CHECK(syscall(SYS_pidfd_getfd, fd, 50, 1) == -1 && errno == EINVAL);
	errno = 0;
	CHECK(syscall(SYS_pidfd_getfd, fd, 200, 0) == -1 && errno == EBADF);
	errno = 0;
	CHECK(syscall(SYS_pidfd_getfd, 0, 0, 0) == -1 && errno == EBADF);
	close(got);
	close(go[1]);
	int status;
	CHECK(waitpid(pid, &status, 0) == pid && status == 0);
	errno = 0;
	CHECK(syscall(SYS_pidfd_getfd, fd, 0, 0) == -1 && errno == ESRCH);
	close(fd);
	close(p[0]);
}

static volatile sig_atomic_t caught;
static void on_usr1(int sig)
{
	(void)sig;
	caught = 1;
}

static void test_clone3(void)
{
	struct clone_args_v2 a;
	char big[128];
	/* Too small for version 0: EINVAL; past a page: E2BIG. */
	memset(&a, 0, sizeof a);
	a.exit_signal = SIGCHLD;
	errno = 0;
	CHECK(clone3(&a, 56) == -1 && errno == EINVAL);
	errno = 0;
	CHECK(clone3(&a, 4097) == -1 && errno == E2BIG);
	/* A larger struct: fine with a zero tail, E2BIG with anything else. */
	memset(big, 0, sizeof big);
	memcpy(big, &a, sizeof a);
	big[100] = 1;
	errno = 0;
	CHECK(clone3(big, sizeof big) == -1 && errno == E2BIG);
	big[100] = 0;
	long pid = clone3(big, sizeof big);
	if (pid == 0)
		_exit(4);
	CHECK(pid > 0);
	int status;
	CHECK(waitpid(pid, &status, 0) == pid && WEXITSTATUS(status) == 4);
	/* Version 0 (64 bytes) with CLONE_PIDFD and an exit signal. */
	int pidfd = -1;
	memset(&a, 0, sizeof a);
	a.flags = CLONE_PIDFD_;
	a.pidfd = (uintptr_t)&pidfd;
	a.exit_signal = SIGCHLD;
	pid = clone3(&a, 64);
	if (pid == 0)
		_exit(7);
	CHECK(pid > 0 && pidfd >= 0);
	CHECK(fcntl(pidfd, F_GETFD) == FD_CLOEXEC);
	siginfo_t si;
	memset(&si, 0, sizeof si);
	CHECK(waitid(P_PIDFD, pidfd, &si, WEXITED) == 0);
	CHECK(si.si_pid == pid && si.si_code == CLD_EXITED &&
	      si.si_status == 7);
	close(pidfd);
	/* CLONE_CLEAR_SIGHAND: the child's caught signals are default. */
	struct sigaction sa = {.sa_handler = on_usr1};
	sigemptyset(&sa.sa_mask);
	CHECK(sigaction(SIGUSR1, &sa, NULL) == 0);
	memset(&a, 0, sizeof a);
	a.flags = CLONE_CLEAR_SIGHAND_;
	a.exit_signal = SIGCHLD;
	pid = clone3(&a, sizeof a);
	if (pid == 0) {
		struct sigaction now;
		sigaction(SIGUSR1, NULL, &now);
		_exit(now.sa_handler == SIG_DFL ? 0 : 1);
	}
	CHECK(pid > 0);
	CHECK(waitpid(pid, &status, 0) == pid && status == 0);
	signal(SIGUSR1, SIG_DFL);
	/* Refusals. */
	memset(&a, 0, sizeof a);
	a.flags = SIGCHLD; /* the exit signal belongs in exit_signal */
	errno = 0;
	CHECK(clone3(&a, sizeof a) == -1 && errno == EINVAL);
	memset(&a, 0, sizeof a);
	a.exit_signal = 65;
	errno = 0;
	CHECK(clone3(&a, sizeof a) == -1 && errno == EINVAL);
	memset(&a, 0, sizeof a);
	a.stack = (uintptr_t)big;
	errno = 0;
	CHECK(clone3(&a, sizeof a) == -1 && errno == EINVAL);
	memset(&a, 0, sizeof a);
	a.flags = 0x1000000000ULL;
	errno = 0;
	CHECK(clone3(&a, sizeof a) == -1 && errno == EINVAL);
	/* set_tid: two levels (no PID namespace has them), or a PID in use. */
	pid_t tids[2] = {getpid(), 1};
	memset(&a, 0, sizeof a);
	a.exit_signal = SIGCHLD;
	a.set_tid = (uintptr_t)tids;
	a.set_tid_size = 2;
	errno = 0;
	CHECK(clone3(&a, sizeof a) == -1 && errno == EINVAL);
	a.set_tid_size = 0;
	errno = 0;
	CHECK(clone3(&a, sizeof a) == -1 && errno == EINVAL);
	a.set_tid_size = 1;
	errno = 0;
	CHECK(clone3(&a, sizeof a) == -1 &&
	      (errno == EEXIST || errno == EPERM));
	/* CLONE_INTO_CGROUP: an old struct is EINVAL; a descriptor that is
	 * not a cgroup directory EBADF. */
	memset(&a, 0, sizeof a);
	a.flags = CLONE_INTO_CGROUP_;
	a.exit_signal = SIGCHLD;
	errno = 0;
	CHECK(clone3(&a, 80) == -1 && errno == EINVAL);
	a.cgroup = 0;
	errno = 0;
	CHECK(clone3(&a, sizeof a) == -1 && errno == EBADF);
	errno = 0;
	CHECK(clone3((void *)16, sizeof a) == -1 && errno == EFAULT);
}

int main(void)
{
	test_pidfd_open();
	test_kill_poll_waitid();
	test_proc_dir_as_pidfd();
	test_poll_wakes_at_exit();
	test_waitid();
	test_pidfd_getfd();
	test_clone3();
	printf("%s: %d checks, %d failed\n", me, checks, failures);
	return failures ? 1 : 0;
}
