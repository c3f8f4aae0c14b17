/*
 * /test/c_poll: readiness and descriptor calls through musl, as a program
 * written for Linux uses them: poll, ppoll (with a signal mask), select,
 * pselect over pipes and eventfds; a poll woken by another process's
 * write; EINTR; EBADF/EFAULT/EINVAL; eventfd2 counters and semaphores;
 * pipe2 flags and O_NONBLOCK (EAGAIN); dup3; close_range with and without
 * CLOSE_RANGE_CLOEXEC; epoll (level, edge, one-shot, nested, woken by
 * another process, its errors). Exits 0 when every check holds; each failure is
 * printed. Runs unchanged on Linux.
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
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/select.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef CLOSE_RANGE_UNSHARE
#define CLOSE_RANGE_UNSHARE (1U << 1)
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

static const char *me = "c_poll";
#include "check.h"

/* An address no process has mapped. */
#define BAD_PTR ((void *)16)

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static void test_poll_pipe(void)
{
	int p[2];
	CHECK(pipe(p) == 0);
	struct pollfd fds[3] = {
		{.fd = p[0], .events = POLLIN},
		{.fd = p[1], .events = POLLOUT},
		{.fd = -1, .events = POLLIN},
	};
	/* Nothing to read yet; the write end has room. */
	CHECK(poll(fds, 1, 0) == 0);
	CHECK(fds[0].revents == 0);
	CHECK(poll(fds, 3, 0) == 1);
	CHECK(fds[1].revents == POLLOUT);
	CHECK(fds[2].revents == 0);
	/* A timeout with nothing ready returns 0. */
	CHECK(poll(fds, 1, 30) == 0);
	CHECK(write(p[1], "x", 1) == 1);
	CHECK(poll(fds, 1, -1) == 1);
	CHECK(fds[0].revents == POLLIN);
	char c;
	CHECK(read(p[0], &c, 1) == 1);
	/* The last writer gone: POLLHUP, reported even when not asked. */
	close(p[1]);
	fds[0].events = 0;
	CHECK(poll(fds, 1, 0) == 1);
	CHECK(fds[0].revents == POLLHUP);
	/* A closed descriptor: POLLNVAL. */
	fds[1].fd = p[1];
	CHECK(poll(&fds[1], 1, 0) == 1);
	CHECK(fds[1].revents == POLLNVAL);
	close(p[0]);
	/* A write end without readers: POLLERR. */
	CHECK(pipe(p) == 0);
	close(p[0]);
	struct pollfd w = {.fd = p[1], .events = POLLOUT};
	CHECK(poll(&w, 1, 0) == 1);
	CHECK(w.revents & POLLERR);
	close(p[1]);
	/* Bad arguments. */
	errno = 0;
	CHECK(poll(BAD_PTR, 1, 0) == -1 && errno == EFAULT);
	errno = 0;
	CHECK(poll(fds, 1 << 20, 0) == -1 && errno == EINVAL);
}

/* A poll that sleeps is woken by another process's write. */
static void test_poll_wakes_on_write(void)
{
	int p[2];
	CHECK(pipe(p) == 0);
	pid_t pid = fork();
	if (pid == 0) {
		sleep_ms(50);
		_exit(write(p[1], "y", 1) == 1 ? 0 : 1);
	}
	struct pollfd fd = {.fd = p[0], .events = POLLIN};
	CHECK(poll(&fd, 1, 10000) == 1);
	CHECK(fd.revents == POLLIN);
	int status;
	CHECK(waitpid(pid, &status, 0) == pid && status == 0);
	close(p[0]);
	close(p[1]);
}

static volatile sig_atomic_t got_usr1;

static void on_usr1(int sig)
{
	(void)sig;
	got_usr1++;
}

/* ppoll's mask lets a blocked signal in for the wait only: EINTR, the
 * handler runs, and the old mask is back afterwards. */
static void test_ppoll_mask(void)
{
	struct sigaction sa = {.sa_handler = on_usr1};
	sigemptyset(&sa.sa_mask);
	CHECK(sigaction(SIGUSR1, &sa, NULL) == 0);
	sigset_t block, old, empty, now;
	sigemptyset(&block);
	sigaddset(&block, SIGUSR1);
	sigemptyset(&empty);
	CHECK(sigprocmask(SIG_BLOCK, &block, &old) == 0);
	got_usr1 = 0;
	CHECK(kill(getpid(), SIGUSR1) == 0);
	CHECK(got_usr1 == 0);
	int p[2];
	CHECK(pipe(p) == 0);
	struct pollfd fd = {.fd = p[0], .events = POLLIN};
	struct timespec ts = {5, 0};
	errno = 0;
	CHECK(ppoll(&fd, 1, &ts, &empty) == -1 && errno == EINTR);
	CHECK(got_usr1 == 1);
	CHECK(sigprocmask(SIG_SETMASK, NULL, &now) == 0);
	CHECK(sigismember(&now, SIGUSR1));
	/* A bad timeout: EINVAL; a bad one: EFAULT. */
	struct timespec bad = {0, 1000000000L};
	errno = 0;
	CHECK(ppoll(&fd, 1, &bad, NULL) == -1 && errno == EINVAL);
	errno = 0;
	CHECK(syscall(SYS_ppoll, &fd, 1, BAD_PTR, NULL, 8) == -1 &&
	      errno == EFAULT);
	/* The kernel's sigset is 8 bytes: another size is EINVAL. */
	errno = 0;
	CHECK(syscall(SYS_ppoll, &fd, 1, &ts, &empty, 4) == -1 &&
	      errno == EINVAL);
	/* Ready at once: the mask is restored, no signal taken. */
	CHECK(write(p[1], "z", 1) == 1);
	CHECK(ppoll(&fd, 1, NULL, &empty) == 1);
	close(p[0]);
	close(p[1]);
	CHECK(sigprocmask(SIG_SETMASK, &old, NULL) == 0);
	signal(SIGUSR1, SIG_DFL);
}

static void test_select(void)
{
	int p[2];
	CHECK(pipe(p) == 0);
	fd_set r, w;
	FD_ZERO(&r);
	FD_ZERO(&w);
	FD_SET(p[0], &r);
	FD_SET(p[1], &w);
	struct timeval tv = {0, 0};
	CHECK(select(p[1] + 1, &r, &w, NULL, &tv) == 1);
	CHECK(!FD_ISSET(p[0], &r) && FD_ISSET(p[1], &w));
	CHECK(write(p[1], "a", 1) == 1);
	FD_ZERO(&r);
	FD_SET(p[0], &r);
	tv.tv_sec = 5;
	CHECK(select(p[0] + 1, &r, NULL, NULL, &tv) == 1);
	CHECK(FD_ISSET(p[0], &r));
	/* Linux writes the time left back. */
	CHECK(tv.tv_sec <= 5);
	/* A timeout with nothing ready. */
	char c;
	CHECK(read(p[0], &c, 1) == 1);
	FD_ZERO(&r);
	FD_SET(p[0], &r);
	tv.tv_sec = 0;
	tv.tv_usec = 20000;
	CHECK(select(p[0] + 1, &r, NULL, NULL, &tv) == 0);
	CHECK(!FD_ISSET(p[0], &r));
	/* pselect with a timespec. */
	struct timespec ts = {0, 1000000};
	FD_ZERO(&w);
	FD_SET(p[1], &w);
	CHECK(pselect(p[1] + 1, NULL, &w, NULL, &ts, NULL) == 1);
	/* Errors: a closed descriptor in a set, a negative count, a bad
	 * timeout, a bad set. */
	int closed = p[1] + 1;
	while (fcntl(closed, F_GETFD) != -1)
		closed++;
	FD_ZERO(&r);
	FD_SET(closed, &r);
	tv.tv_sec = 0;
	tv.tv_usec = 0;
	errno = 0;
	CHECK(select(closed + 1, &r, NULL, NULL, &tv) == -1 && errno == EBADF);
	errno = 0;
	CHECK(syscall(SYS_select, -1, NULL, NULL, NULL, NULL) == -1 &&
	      errno == EINVAL);
	/* select normalises microseconds past a second; negative ones are
	 * EINVAL. */
	tv.tv_usec = 1000000;
	FD_ZERO(&r);
	CHECK(select(1, &r, NULL, NULL, &tv) == 0);
	tv.tv_sec = 0;
	tv.tv_usec = -1;
	errno = 0;
	CHECK(select(1, &r, NULL, NULL, &tv) == -1 && errno == EINVAL);
	errno = 0;
	CHECK(syscall(SYS_select, 1, BAD_PTR, NULL, NULL, NULL) == -1 &&
	      errno == EFAULT);
	close(p[0]);
	close(p[1]);
}

static void test_eventfd(void)
{
	int fd = eventfd(3, EFD_CLOEXEC | EFD_NONBLOCK);
	CHECK(fd >= 0);
	CHECK(fcntl(fd, F_GETFD) == FD_CLOEXEC);
	uint64_t v = 0;
	struct pollfd p = {.fd = fd, .events = POLLIN | POLLOUT};
	CHECK(poll(&p, 1, 0) == 1 && p.revents == (POLLIN | POLLOUT));
	CHECK(read(fd, &v, 8) == 8 && v == 3);
	errno = 0;
	CHECK(read(fd, &v, 8) == -1 && errno == EAGAIN);
	CHECK(poll(&p, 1, 0) == 1 && p.revents == POLLOUT);
	v = 5;
	CHECK(write(fd, &v, 8) == 8);
	v = 2;
	CHECK(write(fd, &v, 8) == 8);
	CHECK(read(fd, &v, 8) == 8 && v == 7);
	/* Short buffers and the one value that may not be added. */
	errno = 0;
	CHECK(read(fd, &v, 4) == -1 && errno == EINVAL);
	v = UINT64_MAX;
	errno = 0;
	CHECK(write(fd, &v, 8) == -1 && errno == EINVAL);
	/* Full: a write that would pass the maximum waits (EAGAIN). */
	v = UINT64_MAX - 1;
	CHECK(write(fd, &v, 8) == 8);
	v = 1;
	errno = 0;
	CHECK(write(fd, &v, 8) == -1 && errno == EAGAIN);
	close(fd);
	/* A semaphore hands out 1 at a time. */
	fd = eventfd(2, EFD_SEMAPHORE | EFD_NONBLOCK);
	CHECK(fd >= 0);
	CHECK(read(fd, &v, 8) == 8 && v == 1);
	CHECK(read(fd, &v, 8) == 8 && v == 1);
	errno = 0;
	CHECK(read(fd, &v, 8) == -1 && errno == EAGAIN);
	close(fd);
	errno = 0;
	CHECK(eventfd(0, 0x40) == -1 && errno == EINVAL);
	/* A blocking read is woken by another process's write. */
	fd = eventfd(0, 0);
	pid_t pid = fork();
	if (pid == 0) {
		sleep_ms(30);
		uint64_t one = 9;
		_exit(write(fd, &one, 8) == 8 ? 0 : 1);
	}
	CHECK(read(fd, &v, 8) == 8 && v == 9);
	int status;
	CHECK(waitpid(pid, &status, 0) == pid && status == 0);
	close(fd);
}

static void test_nonblocking_pipes(void)
{
	int p[2];
	CHECK(pipe2(p, O_NONBLOCK | O_CLOEXEC) == 0);
	CHECK(fcntl(p[0], F_GETFL) & O_NONBLOCK);
	CHECK(fcntl(p[1], F_GETFD) == FD_CLOEXEC);
	char buf[512];
	errno = 0;
	CHECK(read(p[0], buf, 1) == -1 && errno == EAGAIN);
	/* Fill it: the last write is short or EAGAIN. */
	memset(buf, 'q', sizeof buf);
	long total = 0;
	for (;;) {
		ssize_t n = write(p[1], buf, sizeof buf);
		if (n < 0) {
			CHECK(errno == EAGAIN);
			break;
		}
		total += n;
		if (total > (1 << 24))
			break;
	}
	CHECK(total > 0 && total < (1 << 24));
	struct pollfd w = {.fd = p[1], .events = POLLOUT};
	CHECK(poll(&w, 1, 0) == 0);
	close(p[0]);
	close(p[1]);
	/* O_NONBLOCK set later with F_SETFL. */
	CHECK(pipe2(p, 0) == 0);
	CHECK(fcntl(p[0], F_SETFL, O_NONBLOCK) == 0);
	errno = 0;
	CHECK(read(p[0], buf, 1) == -1 && errno == EAGAIN);
	close(p[0]);
	close(p[1]);
	errno = 0;
	CHECK(pipe2(p, O_APPEND) == -1 && errno == EINVAL);
	errno = 0;
	CHECK(syscall(SYS_pipe2, BAD_PTR, 0) == -1 && errno == EFAULT);
}

static void test_dup3_close_range(void)
{
	int fd = dup(1);
	CHECK(fd >= 0);
	errno = 0;
	CHECK(dup3(fd, fd, 0) == -1 && errno == EINVAL);
	errno = 0;
	CHECK(syscall(SYS_dup3, fd, fd + 1, 0x4) == -1 && errno == EINVAL);
	CHECK(dup3(fd, 40, O_CLOEXEC) == 40);
	CHECK(fcntl(40, F_GETFD) == FD_CLOEXEC);
	int a = dup2(1, 41), b = dup2(1, 43);
	CHECK(a == 41 && b == 43);
	/* CLOEXEC marks without closing. */
	CHECK(syscall(SYS_close_range, 41, 43, CLOSE_RANGE_CLOEXEC) == 0);
	CHECK(fcntl(41, F_GETFD) == FD_CLOEXEC);
	CHECK(fcntl(43, F_GETFD) == FD_CLOEXEC);
	/* Closes every open one in range, skipping holes. */
	CHECK(syscall(SYS_close_range, 40, ~0U, 0) == 0);
	CHECK(fcntl(40, F_GETFD) == -1 && fcntl(41, F_GETFD) == -1 &&
	      fcntl(43, F_GETFD) == -1);
	CHECK(fcntl(fd, F_GETFD) == 0);
	CHECK(syscall(SYS_close_range, fd, fd, CLOSE_RANGE_UNSHARE) == 0);
	CHECK(fcntl(fd, F_GETFD) == -1);
	errno = 0;
	CHECK(syscall(SYS_close_range, 5, 4, 0) == -1 && errno == EINVAL);
	errno = 0;
	CHECK(syscall(SYS_close_range, 40, 50, 0x1) == -1 && errno == EINVAL);
}

static void test_epoll(void)
{
	int ep = epoll_create1(EPOLL_CLOEXEC);
	CHECK(ep >= 0);
	CHECK(fcntl(ep, F_GETFD) == FD_CLOEXEC);
	errno = 0;
	CHECK(epoll_create1(1) == -1 && errno == EINVAL);
	errno = 0;
	CHECK(syscall(SYS_epoll_create, 0) == -1 && errno == EINVAL);
	int p[2];
	CHECK(pipe(p) == 0);
	struct epoll_event ev = {.events = EPOLLIN, .data.u64 = 42}, out[4];
	CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &ev) == 0);
	errno = 0;
	CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &ev) == -1 && errno == EEXIST);
	errno = 0;
	CHECK(epoll_ctl(ep, EPOLL_CTL_MOD, p[1], &ev) == -1 && errno == ENOENT);
	errno = 0;
	CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, ep, &ev) == -1 && errno == EINVAL);
	errno = 0;
	CHECK(epoll_ctl(p[0], EPOLL_CTL_ADD, p[1], &ev) == -1 && errno == EINVAL);
	errno = 0;
	CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, 200, &ev) == -1 && errno == EBADF);
	errno = 0;
	CHECK(epoll_ctl(ep, 9, p[0], &ev) == -1 && errno == EINVAL);
	errno = 0;
	CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, p[1], (void *)16) == -1 &&
	      errno == EFAULT);
	int null = open("/dev/null", O_RDONLY);
	errno = 0;
	CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, null, &ev) == -1 && errno == EPERM);
	close(null);
	errno = 0;
	CHECK(epoll_wait(ep, out, 0, 0) == -1 && errno == EINVAL);
	errno = 0;
	CHECK(epoll_wait(p[0], out, 4, 0) == -1 && errno == EINVAL);
	/* Level-triggered: reported while readable. */
	CHECK(epoll_wait(ep, out, 4, 0) == 0);
	CHECK(epoll_wait(ep, out, 4, 20) == 0);
	CHECK(write(p[1], "ab", 2) == 2);
	CHECK(epoll_wait(ep, out, 4, 0) == 1);
	CHECK(out[0].events == EPOLLIN && out[0].data.u64 == 42);
	CHECK(epoll_wait(ep, out, 4, 0) == 1);
	/* An epoll instance polls readable while one of its files is. */
	struct pollfd pf = {.fd = ep, .events = POLLIN};
	CHECK(poll(&pf, 1, 0) == 1 && pf.revents == POLLIN);
	/* Edge-triggered: once, then again only after new bytes. */
	ev.events = EPOLLIN | EPOLLET;
	ev.data.u64 = 43;
	CHECK(epoll_ctl(ep, EPOLL_CTL_MOD, p[0], &ev) == 0);
	CHECK(epoll_wait(ep, out, 4, 0) == 1 && out[0].data.u64 == 43);
	CHECK(epoll_wait(ep, out, 4, 0) == 0);
	CHECK(write(p[1], "c", 1) == 1);
	CHECK(epoll_wait(ep, out, 4, 0) == 1);
	/* One-shot: once, until EPOLL_CTL_MOD re-arms it. */
	ev.events = EPOLLIN | EPOLLONESHOT;
	CHECK(epoll_ctl(ep, EPOLL_CTL_MOD, p[0], &ev) == 0);
	CHECK(epoll_wait(ep, out, 4, 0) == 1);
	CHECK(epoll_wait(ep, out, 4, 0) == 0);
	CHECK(epoll_ctl(ep, EPOLL_CTL_MOD, p[0], &ev) == 0);
	CHECK(epoll_wait(ep, out, 4, 0) == 1);
	char buf[8];
	CHECK(read(p[0], buf, sizeof buf) == 3);
	/* A blocking wait is woken by another process's write. */
	ev.events = EPOLLIN;
	CHECK(epoll_ctl(ep, EPOLL_CTL_MOD, p[0], &ev) == 0);
	pid_t pid = fork();
	if (pid == 0) {
		sleep_ms(40);
		_exit(write(p[1], "d", 1) == 1 ? 0 : 1);
	}
	CHECK(epoll_wait(ep, out, 4, 10000) == 1 && out[0].events == EPOLLIN);
	int status;
	CHECK(waitpid(pid, &status, 0) == pid && status == 0);
	/* The write end: writable; with the read end gone, EPOLLERR. */
	CHECK(epoll_ctl(ep, EPOLL_CTL_DEL, p[0], NULL) == 0);
	ev.events = EPOLLOUT;
	ev.data.u64 = 44;
	CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, p[1], &ev) == 0);
	CHECK(epoll_wait(ep, out, 4, 0) == 1 && out[0].events == EPOLLOUT);
	close(p[0]);
	CHECK(epoll_wait(ep, out, 4, 0) == 1 &&
	      out[0].events == (EPOLLOUT | EPOLLERR));
	/* Nested: an instance watching another; a cycle is ELOOP. */
	int outer = epoll_create1(0);
	ev.events = EPOLLIN;
	ev.data.u64 = 45;
	CHECK(epoll_ctl(outer, EPOLL_CTL_ADD, ep, &ev) == 0);
	errno = 0;
	CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, outer, &ev) == -1 && errno == ELOOP);
	CHECK(epoll_wait(outer, out, 4, 0) == 1 && out[0].data.u64 == 45);
	close(outer);
	close(p[1]);
	close(ep);
}

/* The terminal with O_NONBLOCK and no input: EAGAIN (when fd 0 is one). */
static void test_tty_nonblock(void)
{
	if (!isatty(0))
		return;
	int fd = open("/dev/tty", O_RDONLY | O_NONBLOCK);
	if (fd < 0)
		return;
	struct pollfd p = {.fd = fd, .events = POLLIN};
	if (poll(&p, 1, 0) == 0) {
		char c;
		errno = 0;
		CHECK(read(fd, &c, 1) == -1 && errno == EAGAIN);
	}
	close(fd);
}

int main(void)
{
	test_poll_pipe();
	test_poll_wakes_on_write();
	test_ppoll_mask();
	test_select();
	test_eventfd();
	test_nonblocking_pipes();
	test_dup3_close_range();
	test_epoll();
	test_tty_nonblock();
	printf("%s: %d checks, %d failed\n", me, checks, failures);
	return failures ? 1 : 0;
}
