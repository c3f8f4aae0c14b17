/*
 * /test/c_compat: Linux behaviours that programs nobody here wrote rely
 * on, each found by Debian's busybox or a kselftest:
 * - /proc/PID/task lists the threads (never a "0"), /proc/PID/task/TID
 *   holds the process's files, /proc/thread-self links to PID/task/TID
 *   (kselftests proc-tid0, thread-self, fd-002-posix-eq);
 * - /proc/uptime's idle time never goes back (proc-uptime-001);
 * - getpriority/setpriority (busybox nice, renice): 20 - nice from the
 *   raw call, clamping to -20..19, EINVAL for a bad `which`, ESRCH for no
 *   such process, EACCES for a non-root nice decrease, fork inherits it,
 *   /proc/PID/stat shows it;
 * - the top of user space is free for MAP_FIXED (kselftest sysret_rip).
 * Exits 0 when every check holds; each failure is printed. Runs
 * unchanged on Linux.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *me = "c_compat";
#include "check.h"

static int raw(long r)
{
	return r < 0 ? -errno : (int)r;
}

static volatile int thread_ok, stop_thread;
static char thread_link[64], thread_want[64];

static void *thread_body(void *arg)
{
	(void)arg;
	snprintf(thread_want, sizeof(thread_want), "%d/task/%ld", getpid(),
		 (long)syscall(SYS_gettid));
	ssize_t n = readlink("/proc/thread-self", thread_link,
			     sizeof(thread_link) - 1);
	if (n > 0)
		thread_link[n] = 0;
	thread_ok = 1;
	while (!stop_thread)
		usleep(1000);
	return NULL;
}

static void proc_tasks(void)
{
	pthread_t t;
	CHECK(pthread_create(&t, NULL, thread_body, NULL) == 0);
	while (!thread_ok)
		usleep(1000);
	CHECK(strcmp(thread_link, thread_want) == 0);

	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/task", getpid());
	DIR *d = opendir(path);
	CHECK(d != NULL);
	int entries = 0, self_seen = 0, zero_seen = 0;
	struct dirent *de;
	while (d && (de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		entries++;
		CHECK(de->d_type == DT_DIR);
		if (atoi(de->d_name) == getpid())
			self_seen = 1;
		if (strcmp(de->d_name, "0") == 0)
			zero_seen = 1;
	}
	if (d)
		closedir(d);
	CHECK(entries == 2);
	CHECK(self_seen && !zero_seen);

	/* The thread's directory: its comm and fd entries. */
	char *slash = strchr(thread_want, '/');
	snprintf(path, sizeof(path), "/proc/%d%s/comm", getpid(), slash);
	int fd = open(path, O_RDONLY);
	CHECK(fd >= 0);
	if (fd >= 0)
		close(fd);
	snprintf(path, sizeof(path), "/proc/%d/task/%d/stat", getpid(),
		 getpid());
	struct stat st;
	CHECK(stat(path, &st) == 0 && S_ISREG(st.st_mode));
	snprintf(path, sizeof(path), "/proc/%d/task/999999", getpid());
	CHECK(stat(path, &st) == -1 && errno == ENOENT);
	snprintf(path, sizeof(path), "/proc/%d/task/0", getpid());
	CHECK(stat(path, &st) == -1 && errno == ENOENT);

	/* /proc/thread-self/fd/N is the file, as /proc/self/fd/N. */
	int dir = open("/", O_DIRECTORY | O_RDONLY);
	struct stat s0, s1;
	snprintf(path, sizeof(path), "/proc/thread-self/fd/%d", dir);
	int again = open(path, O_RDONLY);
	CHECK(again >= 0);
	CHECK(fstat(dir, &s0) == 0 && fstat(again, &s1) == 0);
	CHECK(s0.st_dev == s1.st_dev && s0.st_ino == s1.st_ino);
	close(again);
	close(dir);
	CHECK(stat("/proc/thread-self/comm", &st) == 0);

	stop_thread = 1;
	pthread_join(t, NULL);
}

/* The idle field of /proc/uptime, in centiseconds. */
static long idle_cs(int fd)
{
	char buf[128] = {0};
	if (pread(fd, buf, sizeof(buf) - 1, 0) <= 0)
		return -1;
	char *idle = strchr(buf, ' ');
	if (!idle)
		return -1;
	long whole = strtol(idle + 1, &idle, 10);
	long frac = *idle == '.' ? strtol(idle + 1, NULL, 10) : 0;
	return whole * 100 + frac;
}

static void uptime_idle(void)
{
	int fd = open("/proc/uptime", O_RDONLY);
	CHECK(fd >= 0);
	long last = idle_cs(fd);
	CHECK(last >= 0);
	int backwards = 0;
	for (int i = 0; i < 2000; i++) {
		long now = idle_cs(fd);
		if (now < last)
			backwards++;
		last = now;
	}
	CHECK(backwards == 0);
	close(fd);
}

/* Field 19 (nice) of /proc/PID/stat. */
static int stat_nice(pid_t pid)
{
	char path[64], buf[512] = {0};
	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	int fd = open(path, O_RDONLY);
	if (fd < 0)
		return 1000;
	read(fd, buf, sizeof(buf) - 1);
	close(fd);
	char *p = strrchr(buf, ')');
	if (!p)
		return 1000;
	/* After ") " come fields 3, 4, ...: skip 16 to reach field 19. */
	p += 2;
	for (int i = 3; i < 19 && p; i++) {
		p = strchr(p, ' ');
		if (p)
			p++;
	}
	return p ? atoi(p) : 1000;
}

static void priority(void)
{
	/* The raw call gives 20 - nice. */
	CHECK(raw(syscall(SYS_getpriority, PRIO_PROCESS, 0)) == 20);
	errno = 0;
	CHECK(getpriority(PRIO_PROCESS, 0) == 0 && errno == 0);
	CHECK(setpriority(PRIO_PROCESS, 0, 5) == 0);
	CHECK(getpriority(PRIO_PROCESS, getpid()) == 5);
	CHECK(raw(syscall(SYS_getpriority, PRIO_PROCESS, 0)) == 15);
	CHECK(stat_nice(getpid()) == 5);
	CHECK(getpriority(PRIO_PGRP, 0) <= 5);
	/* Clamped. */
	CHECK(setpriority(PRIO_PROCESS, 0, 100) == 0);
	CHECK(getpriority(PRIO_PROCESS, 0) == 19);
	CHECK(setpriority(PRIO_PROCESS, 0, 7) == 0);
	/* Bad `which`, no such process. */
	CHECK(raw(syscall(SYS_getpriority, 3, 0)) == -EINVAL);
	CHECK(raw(syscall(SYS_setpriority, -1, 0, 0)) == -EINVAL);
	CHECK(raw(syscall(SYS_getpriority, PRIO_PROCESS, 999999)) == -ESRCH);
	CHECK(raw(syscall(SYS_setpriority, PRIO_PROCESS, 999999, 0)) == -ESRCH);
	CHECK(raw(syscall(SYS_getpriority, PRIO_PGRP, 999999)) == -ESRCH);

	/* fork inherits it; a child that is not root may raise its nice but
	 * not lower it. */
	pid_t pid = fork();
	if (pid == 0) {
		int ok = getpriority(PRIO_PROCESS, 0) == 7;
		if (setuid(1000) != 0)
			ok = 0;
		if (setpriority(PRIO_PROCESS, 0, 9) != 0)
			ok = 0;
		if (setpriority(PRIO_PROCESS, 0, 3) != -1 || errno != EACCES)
			ok = 0;
		if (getpriority(PRIO_PROCESS, 0) != 9)
			ok = 0;
		/* Another user's process: EPERM. */
		if (setpriority(PRIO_PROCESS, getppid(), 10) != -1 ||
		    errno != EPERM)
			ok = 0;
		_exit(ok ? 0 : 1);
	}
	int status = -1;
	CHECK(waitpid(pid, &status, 0) == pid);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	CHECK(getpriority(PRIO_PROCESS, 0) == 7);
	/* Root may lower it again. */
	CHECK(setpriority(PRIO_PROCESS, 0, 0) == 0);
	CHECK(getpriority(PRIO_PROCESS, 0) == 0);
}

/* The two pages below the top of user space take a MAP_FIXED mapping. */
static void top_of_user_space(void)
{
	for (unsigned long at = 0x7fffffffd000UL; at <= 0x7fffffffe000UL;
	     at += 0x1000) {
		char *p = mmap((void *)at, 4096, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
		CHECK(p == (char *)at);
		if (p != MAP_FAILED) {
			p[4095] = 1;
			CHECK(munmap(p, 4096) == 0);
		}
	}
	/* Past it: ENOMEM from the last user page on. */
	CHECK(mmap((void *)0x7ffffffff000UL, 4096, PROT_READ,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1,
		   0) == MAP_FAILED);
}

int main(void)
{
	proc_tasks();
	uptime_idle();
	priority();
	top_of_user_space();
	return check_report();
}
