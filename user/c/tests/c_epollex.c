/*
 * /test/c_epollex: EPOLLEXCLUSIVE. Two children each block in epoll_wait
 * on an epoll instance of their own watching one eventfd: with
 * EPOLLEXCLUSIVE each write to the eventfd wakes one of them (the other
 * stays blocked until the next write); without it, one write wakes both.
 * The errors as Linux gives them: EPOLLEXCLUSIVE with EPOLL_CTL_MOD, on
 * an epoll instance, or with EPOLLONESHOT/EPOLLPRI is EINVAL, and so is
 * EPOLL_CTL_MOD of an exclusive interest. Exits 0 when every check
 * holds; each failure is printed. Runs unchanged on Linux.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char *me = "c_epollex";
#include "check.h"

#ifndef EPOLLEXCLUSIVE
#define EPOLLEXCLUSIVE (1u << 28)
#endif

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

/* Whether process `pid` is blocked ('S' in /proc/PID/stat). */
static int blocked(pid_t pid)
{
	char path[64], buf[256] = {0};
	snprintf(path, sizeof path, "/proc/%d/stat", pid);
	int fd = open(path, O_RDONLY);
	if (fd < 0)
		return 0;
	ssize_t n = read(fd, buf, sizeof buf - 1);
	close(fd);
	char *end = n > 0 ? strrchr(buf, ')') : NULL;
	return end && end[1] == ' ' && end[2] == 'S';
}

/* A child blocked in epoll_wait on its own instance over `efd`; exits 0
 * once it returns one event. */
static pid_t waiter(int efd, uint32_t events)
{
	pid_t pid = fork();
	if (pid == 0) {
		int ep = epoll_create1(0);
		struct epoll_event ev = {.events = events, .data.u64 = 1};
		if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, efd, &ev) != 0)
			_exit(2);
		struct epoll_event out;
		_exit(epoll_wait(ep, &out, 1, -1) == 1 ? 0 : 3);
	}
	return pid;
}

/* Waits (up to ~5 s) until both children are blocked. */
static int both_blocked(pid_t a, pid_t b)
{
	for (int i = 0; i < 500; i++) {
		if (blocked(a) && blocked(b))
			return 1;
		sleep_ms(10);
	}
	return 0;
}

/* How many of `a`, `b` have exited within `ms`; each exit must be 0. */
static int exited_within(pid_t a, pid_t b, long ms, int *done)
{
	for (long t = 0; t <= ms; t += 10) {
		int status;
		pid_t pid;
		while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
			CHECK(pid == a || pid == b);
			CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
			(*done)++;
		}
		if (*done == 2)
			break;
		sleep_ms(10);
	}
	return *done;
}

/* Starts two children blocked in epoll_wait on `efd` with `events`; the
 * eventfd is then written by the caller. */
static void two_waiters(int efd, uint32_t events, pid_t *a, pid_t *b)
{
	*a = waiter(efd, events);
	*b = waiter(efd, events);
	CHECK(*a > 0 && *b > 0);
	CHECK(both_blocked(*a, *b));
	sleep_ms(100);
}

/* Kills and reaps the waiters a failed check left behind, and closes
 * the eventfd. */
static void end_waiters(int efd, pid_t a, pid_t b, int done)
{
	if (done < 2) {
		kill(a, SIGKILL);
		kill(b, SIGKILL);
		while (waitpid(-1, NULL, 0) > 0)
			;
	}
	close(efd);
}

static void one_per_event(void)
{
	int efd = eventfd(0, 0);
	CHECK(efd >= 0);
	pid_t a, b;
	two_waiters(efd, EPOLLIN | EPOLLEXCLUSIVE, &a, &b);
	uint64_t one = 1;
	int done = 0;
	CHECK(write(efd, &one, sizeof one) == sizeof one);
	/* One wakes; the other stays blocked for a while. */
	CHECK(exited_within(a, b, 3000, &done) >= 1);
	sleep_ms(300);
	CHECK(exited_within(a, b, 0, &done) == 1);
	/* The next event wakes the other. */
	CHECK(write(efd, &one, sizeof one) == sizeof one);
	CHECK(exited_within(a, b, 5000, &done) == 2);
	end_waiters(efd, a, b, done);
}

static void all_without_it(void)
{
	int efd = eventfd(0, 0);
	CHECK(efd >= 0);
	pid_t a, b;
	two_waiters(efd, EPOLLIN, &a, &b);
	uint64_t one = 1;
	int done = 0;
	CHECK(write(efd, &one, sizeof one) == sizeof one);
	CHECK(exited_within(a, b, 5000, &done) == 2);
	end_waiters(efd, a, b, done);
}

static void errors(void)
{
	int ep = epoll_create1(0), inner = epoll_create1(0);
	int efd = eventfd(0, 0);
	CHECK(ep >= 0 && inner >= 0 && efd >= 0);
	struct epoll_event ev = {.events = EPOLLIN | EPOLLEXCLUSIVE};
	errno = 0;
	CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, inner, &ev) == -1 && errno == EINVAL);
	ev.events = EPOLLIN | EPOLLEXCLUSIVE | EPOLLONESHOT;
	errno = 0;
	CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, efd, &ev) == -1 && errno == EINVAL);
	ev.events = EPOLLPRI | EPOLLEXCLUSIVE;
	errno = 0;
	CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, efd, &ev) == -1 && errno == EINVAL);
	ev.events = EPOLLIN | EPOLLEXCLUSIVE;
	errno = 0;
	CHECK(epoll_ctl(ep, EPOLL_CTL_MOD, efd, &ev) == -1 && errno == EINVAL);
	ev.events = EPOLLIN | EPOLLOUT | EPOLLET | EPOLLEXCLUSIVE;
	CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, efd, &ev) == 0);
	ev.events = EPOLLIN;
	errno = 0;
	CHECK(epoll_ctl(ep, EPOLL_CTL_MOD, efd, &ev) == -1 && errno == EINVAL);
	CHECK(epoll_ctl(ep, EPOLL_CTL_DEL, efd, NULL) == 0);
	close(efd);
	close(inner);
	close(ep);
}

int main(void)
{
	errors();
	one_per_event();
	all_without_it();
	return check_report();
}
