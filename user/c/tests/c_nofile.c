/*
 * /test/c_nofile: a lowered RLIMIT_NOFILE bounds the descriptors a
 * process can make, as on Linux. With the soft limit at N, every call
 * that makes a descriptor (open, dup, fcntl F_DUPFD, pipe, eventfd,
 * epoll_create1, pidfd_open) fails with EMFILE when the lowest free one
 * would be N or more, and takes nothing (a failed pipe leaves its one
 * free slot free; open with O_CREAT creates no file); F_DUPFD from N or
 * more is EINVAL; dup2/dup3 to N or more is EBADF; poll of more than N
 * descriptors is EINVAL. Descriptors already open past a limit lowered
 * under them stay usable. fork inherits the limit; raising the soft
 * limit again (up to the hard one) gives the room back. Exits 0 when
 * every check holds; each failure is printed. Runs unchanged on Linux.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *me = "c_nofile";
#include "check.h"

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif

/* The soft limit the test lowers to. */
#define N 16

static const char *created = "/tmp/c_nofile.created";

static int set_soft(rlim_t soft)
{
	struct rlimit r;
	if (getrlimit(RLIMIT_NOFILE, &r) != 0)
		return -1;
	r.rlim_cur = soft;
	return setrlimit(RLIMIT_NOFILE, &r);
}

/* Every call that makes a descriptor, with the table full below N. */
static void all_emfile(void)
{
	int p[2] = {-1, -1};
	errno = 0;
	CHECK(open("/dev/null", O_RDONLY) == -1 && errno == EMFILE);
	errno = 0;
	CHECK(dup(0) == -1 && errno == EMFILE);
	errno = 0;
	CHECK(fcntl(0, F_DUPFD, 0) == -1 && errno == EMFILE);
	errno = 0;
	CHECK(fcntl(0, F_DUPFD_CLOEXEC, 3) == -1 && errno == EMFILE);
	errno = 0;
	CHECK(pipe(p) == -1 && errno == EMFILE);
	errno = 0;
	CHECK(pipe2(p, O_CLOEXEC) == -1 && errno == EMFILE);
	errno = 0;
	CHECK(eventfd(0, 0) == -1 && errno == EMFILE);
	errno = 0;
	CHECK(epoll_create1(0) == -1 && errno == EMFILE);
	errno = 0;
	CHECK(syscall(SYS_pidfd_open, getpid(), 0) == -1 && errno == EMFILE);
}

int main(void)
{
	struct rlimit old;
	CHECK(getrlimit(RLIMIT_NOFILE, &old) == 0);
	CHECK(old.rlim_cur > N && old.rlim_max >= old.rlim_cur);
	/* Start from 0, 1 and 2 only, whatever the caller left open. */
	for (int fd = 3; fd < 1024; fd++)
		close(fd);
	unlink(created);

	CHECK(set_soft(N) == 0);
	struct rlimit now;
	CHECK(getrlimit(RLIMIT_NOFILE, &now) == 0);
	CHECK(now.rlim_cur == N && now.rlim_max == old.rlim_max);

	/* Fill 3..N-1 with open: the last one is N-1, the next EMFILE. */
	int last = -1, opened = 0;
	for (;;) {
		int fd = open("/dev/null", O_RDONLY);
		if (fd < 0)
			break;
		last = fd;
		opened++;
	}
	CHECK(errno == EMFILE);
	CHECK(opened == N - 3);
	CHECK(last == N - 1);
	all_emfile();

	/* open with O_CREAT creates nothing when it has no descriptor. */
	errno = 0;
	CHECK(open(created, O_WRONLY | O_CREAT | O_EXCL, 0600) == -1 &&
	      errno == EMFILE);
	CHECK(access(created, F_OK) == -1 && errno == ENOENT);

	/* F_DUPFD from N or more: EINVAL; dup2/dup3 to N or more: EBADF. */
	errno = 0;
	CHECK(fcntl(0, F_DUPFD, N) == -1 && errno == EINVAL);
	errno = 0;
	CHECK(fcntl(0, F_DUPFD_CLOEXEC, N + 100) == -1 && errno == EINVAL);
	errno = 0;
	CHECK(dup2(0, N) == -1 && errno == EBADF);
	errno = 0;
	CHECK(dup3(0, N, O_CLOEXEC) == -1 && errno == EBADF);
	errno = 0;
	CHECK(dup2(0, 100) == -1 && errno == EBADF);
	/* ...but below N replaces. */
	CHECK(dup2(1, N - 1) == N - 1);
	CHECK(dup3(1, N - 2, O_CLOEXEC) == N - 2);
	CHECK(fcntl(N - 2, F_GETFD) == FD_CLOEXEC);

	/* poll: more than N descriptors is EINVAL, N is fine. */
	struct pollfd pfd[N + 1];
	for (int i = 0; i <= N; i++) {
		pfd[i].fd = -1;
		pfd[i].events = POLLIN;
	}
	errno = 0;
	CHECK(poll(pfd, N + 1, 0) == -1 && errno == EINVAL);
	CHECK(poll(pfd, N, 0) == 0);

	/* One free slot: pipe needs two, fails, and leaves it free. */
	CHECK(close(7) == 0);
	int p[2] = {-1, -1};
	errno = 0;
	CHECK(pipe(p) == -1 && errno == EMFILE);
	CHECK(eventfd(0, 0) == 7);
	all_emfile();

	/* Lowered under open descriptors: they stay usable. */
	CHECK(set_soft(5) == 0);
	CHECK(fcntl(N - 1, F_GETFD) == 0);
	char c;
	CHECK(read(10, &c, 1) == 0); /* /dev/null */
	errno = 0;
	CHECK(dup(10) == -1 && errno == EMFILE);
	errno = 0;
	CHECK(dup2(10, 5) == -1 && errno == EBADF);
	CHECK(dup2(10, 4) == 4); /* below 5: replaces */
	CHECK(close(3) == 0);
	CHECK(dup(10) == 3); /* a slot below the limit is found */
	CHECK(close(12) == 0);
	CHECK(close(13) == 0);
	errno = 0;
	CHECK(open("/dev/null", O_RDONLY) == -1 && errno == EMFILE);

	/* fork inherits the limit. */
	CHECK(close(4) == 0);
	pid_t pid = fork();
	if (pid == 0) {
		struct rlimit r;
		int ok = getrlimit(RLIMIT_NOFILE, &r) == 0 && r.rlim_cur == 5;
		ok = ok && dup(0) == 4; /* the one free slot below 5 */
		errno = 0;
		ok = ok && dup(0) == -1 && errno == EMFILE;
		errno = 0;
		ok = ok && dup2(0, 5) == -1 && errno == EBADF;
		_exit(ok ? 0 : 1);
	}
	CHECK(pid > 0);
	int status = -1;
	CHECK(waitpid(pid, &status, 0) == pid);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);

	/* Raising the soft limit back gives the room back. */
	CHECK(setrlimit(RLIMIT_NOFILE, &old) == 0);
	CHECK(dup(0) == 4);
	CHECK(dup(0) == 12);
	CHECK(dup2(0, N + 3) == N + 3);
	CHECK(fcntl(0, F_DUPFD, N) == N);
	int fds[2];
	CHECK(pipe(fds) == 0 && fds[0] == 13 && fds[1] == N + 1);
	CHECK(getrlimit(RLIMIT_NOFILE, &now) == 0);
	CHECK(now.rlim_cur == old.rlim_cur && now.rlim_max == old.rlim_max);

	for (int fd = 3; fd < N + 8; fd++)
		close(fd);
	return check_report();
}
