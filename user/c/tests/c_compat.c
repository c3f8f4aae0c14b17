/*
 * /test/c_compat: Linux behaviours that programs nobody here wrote rely
 * on, each found by Debian's busybox or a kselftest:
 * - /proc/PID/task lists the threads (never a "0"), /proc/PID/task/TID
 *   holds the process's files, /proc/thread-self links to PID/task/TID
 *   (kselftests proc-tid0, thread-self, fd-002-posix-eq);
 * - /proc/PID/status and stat count the threads (Threads:, num_threads)
 *   and list the supplementary groups (Groups:);
 * - /proc/uptime's idle time never goes back (proc-uptime-001);
 * - getpriority/setpriority (busybox nice, renice): 20 - nice from the
 *   raw call, clamping to -20..19, EINVAL for a bad `which`, ESRCH for no
 *   such process, EACCES for a non-root nice decrease, fork inherits it,
 *   /proc/PID/stat shows it;
 * - the top of user space is free for MAP_FIXED (kselftest sysret_rip);
 * - alarm, setitimer(ITIMER_REAL), getitimer: SIGALRM at expiry, again
 *   every interval, alarm's rounded seconds left, EINVAL for a bad
 *   timeval or timer, EFAULT for a bad pointer, no timer in a forked
 *   child (kselftest proc-tid0 waited forever for its alarm);
 * - chown, lchown, fchown, fchownat (busybox chown said ENOSYS): ids of
 *   -1 kept, set-user-ID cleared by a change, a new file belongs to its
 *   creator's effective ids, a non-root owner may only change the group
 *   to its own, chmod of another user's file is EPERM;
 * - named pipes (mkfifo, mknod: busybox mkfifo said ENOSYS): a blocking
 *   open waits for the other side, O_NONBLOCK does not (a lone writer is
 *   ENXIO), O_RDWR never waits, a signal ends a waiting open with EINTR
 *   and takes its end back; mknod of a regular file; EEXIST;
 * - /proc/sys/kernel/pid_max and friends (kselftests clone3_set_tid,
 *   mremap_test read them), read-only;
 * - RLIMIT_NOFILE is Linux's 1024 and dup2 to fd 1000 works (kselftest
 *   close_range_test); unshare(CLONE_FILES/CLONE_FS) gives a process
 *   sharing them with another (clone CLONE_FILES/CLONE_FS) its own copy
 *   (kselftests fd-001-lookup, fd-003-kthread said ENOSYS), bad flags
 *   EINVAL;
 * - umount2 (busybox umount said ENOSYS): a directory that is not a
 *   mount point is EINVAL, a missing one ENOENT, bad flags EINVAL, a
 *   caller that is not root EPERM (unmounting Tine's fixed file systems
 *   is EBUSY: not checked here, Linux would unmount them);
 * - CLOCK_TAI, CLOCK_REALTIME_ALARM, CLOCK_BOOTTIME_ALARM read (kselftest
 *   vdso_test_abi failed on CLOCK_TAI); TAI is within a minute of
 *   CLOCK_REALTIME (Linux's offset is 0 until adjtimex sets it, 37 s after);
 * - getgroups/setgroups (busybox id said "can't get groups"): sorted,
 *   inherited by fork, root only, EINVAL for a short list;
 * - fallocate on a tmpfs file extends it (KEEP_SIZE does not), EINVAL,
 *   EBADF, ESPIPE, EISDIR as Linux (busybox fallocate said ENOSYS);
 * - /proc/partitions exists, empty without block devices (busybox fdisk
 *   -l died of SIGSEGV without it);
 * - sethostname/setdomainname (busybox hostname NAME said ENOSYS): uname
 *   and /proc/sys/kernel/hostname show it, 64 bytes at most, root only;
 * - the main thread's stack holds 4 MiB of locals (Linux's grows to the
 *   8 MiB RLIMIT_STACK; kselftest virtual_address_range has 1 MiB).
 * Exits 0 when every check holds; each failure is printed. Runs
 * unchanged on Linux.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <grp.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
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
	char status[2048] = {0};
	int sfd = open("/proc/self/status", O_RDONLY);
	CHECK(sfd >= 0 && read(sfd, status, sizeof(status) - 1) > 0);
	close(sfd);
	CHECK(strstr(status, "\nThreads:\t2\n") != NULL);

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

static volatile int alarms;

static void on_alarm(int sig)
{
	(void)sig;
	alarms++;
}

static void timers(void)
{
	struct sigaction sa = {.sa_handler = on_alarm};
	CHECK(sigaction(SIGALRM, &sa, NULL) == 0);
	sigset_t block, old;
	sigemptyset(&block);
	sigaddset(&block, SIGALRM);

	/* alarm: the old timer's seconds, rounded. */
	CHECK(alarm(0) == 0);
	CHECK(alarm(5) == 0);
	unsigned left = alarm(7);
	CHECK(left == 5);
	CHECK(alarm(0) == 7);
	CHECK(alarm(0) == 0);

	/* One alarm: SIGALRM arrives. */
	sigprocmask(SIG_BLOCK, &block, &old);
	alarms = 0;
	alarm(1);
	while (alarms == 0)
		sigsuspend(&old);
	CHECK(alarms == 1);
	CHECK(alarm(0) == 0);

	/* An interval timer fires again and again. */
	struct itimerval it = {{0, 20000}, {0, 20000}}, cur;
	alarms = 0;
	CHECK(setitimer(ITIMER_REAL, &it, NULL) == 0);
	while (alarms < 3)
		sigsuspend(&old);
	CHECK(getitimer(ITIMER_REAL, &cur) == 0);
	CHECK(cur.it_interval.tv_sec == 0 && cur.it_interval.tv_usec == 20000);
	CHECK(cur.it_value.tv_sec == 0 && cur.it_value.tv_usec <= 20000);
	struct itimerval off = {{0, 0}, {0, 0}};
	CHECK(setitimer(ITIMER_REAL, &off, &cur) == 0);
	CHECK(cur.it_interval.tv_usec == 20000);
	CHECK(getitimer(ITIMER_REAL, &cur) == 0);
	CHECK(cur.it_value.tv_sec == 0 && cur.it_value.tv_usec == 0);
	sigprocmask(SIG_SETMASK, &old, NULL);

	/* Reading back a long timer; fork gives the child none. */
	struct itimerval ten = {{0, 0}, {10, 0}};
	CHECK(setitimer(ITIMER_REAL, &ten, NULL) == 0);
	CHECK(getitimer(ITIMER_REAL, &cur) == 0);
	CHECK(cur.it_value.tv_sec == 9 || cur.it_value.tv_sec == 10);
	pid_t pid = fork();
	if (pid == 0) {
		struct itimerval c;
		_exit(getitimer(ITIMER_REAL, &c) == 0 && c.it_value.tv_sec == 0 &&
				      c.it_value.tv_usec == 0
			      ? 0
			      : 1);
	}
	int status = -1;
	CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
	      WEXITSTATUS(status) == 0);

	/* Bad arguments change nothing. */
	struct itimerval bad = {{0, 0}, {0, 1000000}};
	CHECK(raw(syscall(SYS_setitimer, ITIMER_REAL, &bad, NULL)) == -EINVAL);
	bad.it_value.tv_usec = -1;
	CHECK(raw(syscall(SYS_setitimer, ITIMER_REAL, &bad, NULL)) == -EINVAL);
	CHECK(raw(syscall(SYS_setitimer, 7, &ten, NULL)) == -EINVAL);
	CHECK(raw(syscall(SYS_getitimer, 7, &cur)) == -EINVAL);
	CHECK(raw(syscall(SYS_setitimer, ITIMER_REAL, (void *)8, NULL)) ==
	      -EFAULT);
	CHECK(raw(syscall(SYS_getitimer, ITIMER_REAL, (void *)8)) == -EFAULT);
	CHECK(getitimer(ITIMER_REAL, &cur) == 0 && cur.it_value.tv_sec >= 9);
	/* A NULL new value disarms it. */
	CHECK(raw(syscall(SYS_setitimer, ITIMER_REAL, NULL, &cur)) == 0);
	CHECK(cur.it_value.tv_sec >= 9);
	CHECK(alarm(0) == 0);
	signal(SIGALRM, SIG_DFL);
}

static void ownership(void)
{
	/* Not in sticky /tmp, where Linux follows no other user's link. */
	const char *f = "/tmp/c_compat-d/own", *l = "/tmp/c_compat-d/link";
	mkdir("/tmp/c_compat-d", 0755);
	unlink(f);
	unlink(l);
	int fd = open(f, O_CREAT | O_WRONLY, 0644);
	CHECK(fd >= 0);
	struct stat st;
	CHECK(stat(f, &st) == 0 && st.st_uid == 0 && st.st_gid == 0);
	CHECK(chown(f, 1000, 100) == 0);
	CHECK(stat(f, &st) == 0 && st.st_uid == 1000 && st.st_gid == 100);
	CHECK(chown(f, -1, 5) == 0);
	CHECK(stat(f, &st) == 0 && st.st_uid == 1000 && st.st_gid == 5);
	CHECK(fchown(fd, 7, -1) == 0);
	CHECK(fstat(fd, &st) == 0 && st.st_uid == 7 && st.st_gid == 5);
	CHECK(fchownat(fd, "", 8, 9, AT_EMPTY_PATH) == 0);
	CHECK(fstat(fd, &st) == 0 && st.st_uid == 8 && st.st_gid == 9);
	CHECK(fchownat(AT_FDCWD, f, 0, 0, 0x4000) == -1 && errno == EINVAL);
	/* A change clears set-user-ID, and set-group-ID with group exec. */
	CHECK(chmod(f, 06755) == 0);
	CHECK(chown(f, 0, 0) == 0);
	CHECK(stat(f, &st) == 0 && (st.st_mode & 07777) == 0755);
	CHECK(chmod(f, 02745) == 0);
	CHECK(chown(f, 0, 0) == 0);
	CHECK(stat(f, &st) == 0 && (st.st_mode & 07777) == 02745);
	CHECK(chmod(f, 0644) == 0);
	/* lchown changes the link, chown its target. */
	CHECK(symlink(f, l) == 0);
	CHECK(lchown(l, 3, 4) == 0);
	CHECK(lstat(l, &st) == 0 && st.st_uid == 3 && st.st_gid == 4);
	CHECK(stat(l, &st) == 0 && st.st_uid == 0 && st.st_gid == 0);
	CHECK(fchownat(AT_FDCWD, l, 5, 6, AT_SYMLINK_NOFOLLOW) == 0);
	CHECK(lstat(l, &st) == 0 && st.st_uid == 5);
	CHECK(chown("/tmp/c_compat-missing", 0, 0) == -1 && errno == ENOENT);
	CHECK(raw(syscall(SYS_chown, (void *)8, 0, 0)) == -EFAULT);
	close(fd);

	/* Not root: new files are its own; it may not give them away. */
	pid_t pid = fork();
	if (pid == 0) {
		/* The exit status is the first step that failed. */
		int step = 0;
#define STEP(cond)                \
	do {                      \
		step++;           \
		if (!(cond))      \
			_exit(step); \
	} while (0)
		STEP(setuid(1000) == 0);
		const char *mine = "/tmp/c_compat-mine";
		int mfd = open(mine, O_CREAT | O_WRONLY, 0600);
		struct stat ms;
		STEP(mfd >= 0 && fstat(mfd, &ms) == 0);
		STEP(ms.st_uid == 1000 && ms.st_gid == 0);
		STEP(chown(mine, 0, -1) == -1 && errno == EPERM);
		STEP(chown(mine, 1000, 0) == 0);
		STEP(chown(mine, -1, 7) == -1 && errno == EPERM);
		STEP(chmod(mine, 0644) == 0);
		/* The root-owned file: no chown, no chmod. */
		STEP(chown(f, -1, 0) == -1 && errno == EPERM);
		STEP(chmod(f, 0777) == -1 && errno == EPERM);
		STEP(unlink(mine) == 0);
		_exit(0);
	}
	int status = -1;
	CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status));
	CHECK(WEXITSTATUS(status) == 0);
	if (WEXITSTATUS(status))
		printf("c_compat: non-root chown step %d failed\n",
		       WEXITSTATUS(status));
	CHECK(unlink(l) == 0 && unlink(f) == 0 && rmdir("/tmp/c_compat-d") == 0);
}

static void on_signal(int sig)
{
	(void)sig;
}

static void fifos(void)
{
	const char *p = "/tmp/c_compat-fifo";
	unlink(p);
	CHECK(mkfifo(p, 0600) == 0);
	struct stat st;
	CHECK(stat(p, &st) == 0 && S_ISFIFO(st.st_mode) &&
	      (st.st_mode & 0777) == 0600);
	CHECK(mkfifo(p, 0600) == -1 && errno == EEXIST);

	/* Non-blocking opens: a reader at once, a lone writer ENXIO. */
	CHECK(open(p, O_WRONLY | O_NONBLOCK) == -1 && errno == ENXIO);
	int r = open(p, O_RDONLY | O_NONBLOCK);
	CHECK(r >= 0);
	int w = open(p, O_WRONLY | O_NONBLOCK);
	CHECK(w >= 0);
	CHECK(write(w, "ab", 2) == 2);
	char buf[16] = {0};
	CHECK(read(r, buf, sizeof(buf)) == 2 && memcmp(buf, "ab", 2) == 0);
	close(w);
	CHECK(read(r, buf, sizeof(buf)) == 0);
	close(r);

	/* Blocking opens meet: the child writes, the parent reads. Many
	 * rounds: a writer that opened, wrote and closed before the reader's
	 * open got to wait must still let it through (it hung once). */
	int rounds_ok = 0;
	for (int round = 0; round < 30; round++) {
		pid_t pid = fork();
		if (pid == 0) {
			int fd = open(p, O_WRONLY);
			_exit(fd >= 0 && write(fd, "hello", 5) == 5 ? 0 : 1);
		}
		r = open(p, O_RDONLY);
		memset(buf, 0, sizeof(buf));
		int got = 0, n;
		while (r >= 0 && (n = read(r, buf + got, sizeof(buf) - 1 - got)) > 0)
			got += n;
		close(r);
		int status = -1;
		waitpid(pid, &status, 0);
		rounds_ok += r >= 0 && got == 5 && strcmp(buf, "hello") == 0 &&
			     WIFEXITED(status) && WEXITSTATUS(status) == 0;
	}
	CHECK(rounds_ok == 30);

	/* O_RDWR never waits: its own writes come back. */
	int rw = open(p, O_RDWR);
	CHECK(rw >= 0);
	CHECK(write(rw, "xy", 2) == 2 && read(rw, buf, 2) == 2 &&
	      memcmp(buf, "xy", 2) == 0);
	close(rw);

	/* A signal ends a waiting open; its end is gone after. */
	struct sigaction sa = {.sa_handler = on_signal}, old;
	CHECK(sigaction(SIGALRM, &sa, &old) == 0);
	alarm(1);
	CHECK(open(p, O_RDONLY) == -1 && errno == EINTR);
	alarm(0);
	sigaction(SIGALRM, &old, NULL);
	CHECK(open(p, O_WRONLY | O_NONBLOCK) == -1 && errno == ENXIO);
	CHECK(unlink(p) == 0);

	/* mknod: type 0 and S_IFREG make a regular file; bad types. */
	const char *q = "/tmp/c_compat-node";
	unlink(q);
	CHECK(mknod(q, 0640, 0) == 0);
	CHECK(stat(q, &st) == 0 && S_ISREG(st.st_mode) && st.st_size == 0);
	CHECK(mknod(q, S_IFREG | 0640, 0) == -1 && errno == EEXIST);
	CHECK(unlink(q) == 0);
	CHECK(mknod(q, S_IFIFO | 0600, 0) == 0);
	CHECK(stat(q, &st) == 0 && S_ISFIFO(st.st_mode));
	CHECK(unlink(q) == 0);
	CHECK(mknod(q, S_IFDIR | 0700, 0) == -1 && errno == EPERM);
	CHECK(mknod(q, 0170000 | 0700, 0) == -1 && errno == EINVAL);
	CHECK(mkfifo("/tmp/no-such-dir/f", 0600) == -1 && errno == ENOENT);
	CHECK(raw(syscall(SYS_mknod, (void *)8, S_IFIFO | 0600, 0)) == -EFAULT);
}

/* Touches `kib` KiB of stack, 64 KiB per frame. */
static int __attribute__((noinline)) deep(int kib)
{
	volatile char frame[64 << 10];
	frame[0] = (char)kib;
	frame[sizeof(frame) - 1] = 1;
	return kib <= 64 ? frame[0] : deep(kib - 64) + frame[sizeof(frame) - 1];
}

static void big_stack(void)
{
	pid_t pid = fork();
	if (pid == 0)
		_exit(deep(4 << 10) > 0 ? 0 : 1);
	int status = -1;
	CHECK(waitpid(pid, &status, 0) == pid);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

/* The number in a /proc/sys file, or -1. */
static long sysctl_number(const char *path)
{
	char buf[64] = {0};
	int fd = open(path, O_RDONLY);
	if (fd < 0)
		return -1;
	long n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	return n > 0 && buf[n - 1] == '\n' ? strtol(buf, NULL, 10) : -1;
}

static void proc_sys(void)
{
	CHECK(sysctl_number("/proc/sys/kernel/pid_max") >= 301);
	CHECK(sysctl_number("/proc/sys/kernel/threads-max") > 0);
	CHECK(sysctl_number("/proc/sys/vm/mmap_min_addr") >= 4096);
	long o = sysctl_number("/proc/sys/vm/overcommit_memory");
	CHECK(o >= 0 && o <= 2);
	struct stat st;
	CHECK(stat("/proc/sys/kernel", &st) == 0 && S_ISDIR(st.st_mode));
	CHECK(stat("/proc/sys/kernel/no-such-knob", &st) == -1 && errno == ENOENT);
	CHECK(stat("/proc/sys/kernel/pid_max/x", &st) == -1 && errno == ENOTDIR);
	/* A name that is not UTF-8 is not there (Tine's names are UTF-8). */
	CHECK(lstat("/proc/self/fd/\xff" "0", &st) == -1 && errno == ENOENT);
	CHECK(open("/tmp/\xfe\xff", O_RDONLY) == -1 && errno == ENOENT);
	int seen = 0;
	DIR *d = opendir("/proc/sys/kernel");
	struct dirent *de;
	while (d && (de = readdir(d)))
		seen += strcmp(de->d_name, "pid_max") == 0;
	if (d)
		closedir(d);
	CHECK(seen == 1);
	char release[128] = {0};
	int fd = open("/proc/sys/kernel/osrelease", O_RDONLY);
	CHECK(fd >= 0 && read(fd, release, sizeof(release) - 1) > 1);
	close(fd);
	struct utsname u;
	CHECK(uname(&u) == 0 && strncmp(release, u.release, strlen(u.release)) == 0);
}

/* A fork sharing `share` (CLONE_FILES, CLONE_FS) with its parent. */
static pid_t fork_sharing(unsigned long share)
{
	return (pid_t)syscall(SYS_clone, share | SIGCHLD, 0, 0, 0, 0);
}

static int wait_ok(pid_t pid)
{
	int status = -1;
	return waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
	       WEXITSTATUS(status) == 0;
}

static void descriptors(void)
{
	struct rlimit rl;
	CHECK(getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur >= 1024);
	int fd = open("/dev/null", O_RDONLY);
	CHECK(dup2(fd, 1000) == 1000);
	CHECK(fcntl(1000, F_GETFD) == 0);
	CHECK(close(1000) == 0);

	/* Shared table: the child's close is the parent's. */
	int a = dup(fd), b = dup(fd);
	pid_t pid = fork_sharing(CLONE_FILES);
	if (pid == 0)
		_exit(close(a) == 0 ? 0 : 1);
	CHECK(wait_ok(pid));
	CHECK(fcntl(a, F_GETFD) == -1 && errno == EBADF);
	/* unshare(CLONE_FILES): its own copy, every descriptor kept. */
	pid = fork_sharing(CLONE_FILES);
	if (pid == 0)
		_exit(unshare(CLONE_FILES) == 0 && close(b) == 0 ? 0 : 1);
	CHECK(wait_ok(pid));
	CHECK(fcntl(b, F_GETFD) == 0);
	close(b);
	close(fd);

	/* unshare(CLONE_FS): the child's chdir stays its own. */
	char cwd[256] = {0};
	CHECK(getcwd(cwd, sizeof(cwd)) != NULL);
	pid = fork_sharing(CLONE_FS);
	if (pid == 0)
		_exit(unshare(CLONE_FS) == 0 && chdir("/tmp") == 0 ? 0 : 1);
	CHECK(wait_ok(pid));
	char now[256] = {0};
	CHECK(getcwd(now, sizeof(now)) != NULL && strcmp(now, cwd) == 0);
	pid = fork_sharing(CLONE_FS);
	if (pid == 0)
		_exit(chdir("/tmp") == 0 ? 0 : 1);
	CHECK(wait_ok(pid));
	CHECK(getcwd(now, sizeof(now)) != NULL && strcmp(now, "/tmp") == 0);
	CHECK(chdir(cwd) == 0);

	CHECK(unshare(0) == 0);
	CHECK(unshare(CLONE_FILES | CLONE_FS | CLONE_SYSVSEM) == 0);
	CHECK(unshare(1) == -1 && errno == EINVAL);
	CHECK(unshare(CLONE_PARENT) == -1 && errno == EINVAL);
}

static void unmounting(void)
{
	mkdir("/tmp/c_compat-mnt", 0755);
	CHECK(umount2("/tmp/c_compat-mnt", 0) == -1 && errno == EINVAL);
	CHECK(umount("/tmp/c_compat-mnt") == -1 && errno == EINVAL);
	CHECK(umount2("/tmp/c_compat-none", 0) == -1 && errno == ENOENT);
	CHECK(umount2("/tmp/c_compat-mnt", 0x100) == -1 && errno == EINVAL);
	CHECK(umount2("/tmp/c_compat-mnt", MNT_EXPIRE | MNT_FORCE) == -1 &&
	      errno == EINVAL);
	CHECK(raw(syscall(SYS_umount2, (void *)8, 0)) == -EFAULT);
	pid_t pid = fork();
	if (pid == 0)
		_exit(setuid(1000) == 0 && umount2("/tmp/c_compat-mnt", 0) == -1 &&
				      errno == EPERM
			      ? 0
			      : 1);
	CHECK(wait_ok(pid));
	CHECK(rmdir("/tmp/c_compat-mnt") == 0);
}

static void clocks(void)
{
	struct timespec tai, rt, t;
	CHECK(clock_gettime(CLOCK_REALTIME, &rt) == 0);
	CHECK(clock_gettime(CLOCK_TAI, &tai) == 0);
	CHECK(tai.tv_sec - rt.tv_sec >= 0 && tai.tv_sec - rt.tv_sec < 60);
	CHECK(clock_gettime(CLOCK_REALTIME_ALARM, &t) == 0);
	CHECK(clock_gettime(CLOCK_BOOTTIME_ALARM, &t) == 0);
	CHECK(clock_getres(CLOCK_TAI, &t) == 0);
	CHECK(clock_gettime(10, &t) == -1 && errno == EINVAL);
	struct timespec nap = {0, 1000};
	CHECK(clock_nanosleep(CLOCK_TAI, 0, &nap, NULL) == 0);
}

static void groups_and_files(void)
{
	gid_t list[8];
	gid_t want[3] = {30, 5, 10};
	CHECK(setgroups(3, want) == 0);
	CHECK(getgroups(0, NULL) == 3);
	CHECK(getgroups(8, list) == 3 && list[0] == 5 && list[1] == 10 &&
	      list[2] == 30);
	CHECK(getgroups(2, list) == -1 && errno == EINVAL);
	char status[2048] = {0};
	int sfd = open("/proc/self/status", O_RDONLY);
	CHECK(sfd >= 0 && read(sfd, status, sizeof(status) - 1) > 0);
	close(sfd);
	CHECK(strstr(status, "\nGroups:\t5 10 30 \n") != NULL);
	CHECK(raw(syscall(SYS_getgroups, -1, list)) == -EINVAL);
	CHECK(raw(syscall(SYS_getgroups, 8, (void *)8)) == -EFAULT);
	CHECK(raw(syscall(SYS_setgroups, 1, (void *)8)) == -EFAULT);
	CHECK(raw(syscall(SYS_setgroups, 65537, list)) == -EINVAL);
	pid_t pid = fork();
	if (pid == 0) {
		gid_t l[8];
		int ok = getgroups(8, l) == 3 && l[2] == 30;
		ok &= setuid(1000) == 0;
		ok &= setgroups(0, NULL) == -1 && errno == EPERM;
		_exit(ok ? 0 : 1);
	}
	CHECK(wait_ok(pid));
	CHECK(setgroups(0, NULL) == 0 && getgroups(0, NULL) == 0);

	const char *f = "/tmp/c_compat-falloc";
	int fd = open(f, O_CREAT | O_RDWR | O_TRUNC, 0600);
	struct stat st;
	CHECK(fallocate(fd, 0, 0, 8192) == 0);
	CHECK(fstat(fd, &st) == 0 && st.st_size == 8192);
	CHECK(fallocate(fd, FALLOC_FL_KEEP_SIZE, 0, 65536) == 0);
	CHECK(fstat(fd, &st) == 0 && st.st_size == 8192);
	CHECK(fallocate(fd, 0, 100, 10) == 0);
	CHECK(fstat(fd, &st) == 0 && st.st_size == 8192);
	CHECK(fallocate(fd, 0, -1, 10) == -1 && errno == EINVAL);
	CHECK(fallocate(fd, 0, 0, 0) == -1 && errno == EINVAL);
	close(fd);
	fd = open(f, O_RDONLY);
	CHECK(fallocate(fd, 0, 0, 10) == -1 && errno == EBADF);
	close(fd);
	unlink(f);
	int pipefd[2];
	CHECK(pipe(pipefd) == 0);
	CHECK(fallocate(pipefd[1], 0, 0, 10) == -1 && errno == ESPIPE);
	close(pipefd[0]);
	close(pipefd[1]);

	fd = open("/proc/partitions", O_RDONLY);
	CHECK(fd >= 0);
	char head[16] = {0};
	/* No block devices here, on Linux too: an empty file. */
	CHECK(read(fd, head, sizeof(head)) == 0);
	close(fd);
}

static void names(void)
{
	struct utsname u, v;
	CHECK(uname(&u) == 0);
	CHECK(sethostname("c-compat-host", 13) == 0);
	CHECK(uname(&v) == 0 && strcmp(v.nodename, "c-compat-host") == 0);
	char buf[80] = {0};
	int fd = open("/proc/sys/kernel/hostname", O_RDONLY);
	CHECK(fd >= 0 && read(fd, buf, sizeof(buf) - 1) == 14 &&
	      strcmp(buf, "c-compat-host\n") == 0);
	close(fd);
	char longname[65];
	memset(longname, 'x', sizeof(longname));
	CHECK(sethostname(longname, 65) == -1 && errno == EINVAL);
	CHECK(sethostname(longname, 64) == 0);
	CHECK(uname(&v) == 0 && strlen(v.nodename) == 64);
	CHECK(raw(syscall(SYS_sethostname, (void *)8, 4)) == -EFAULT);
	CHECK(setdomainname("dom", 3) == 0);
	CHECK(uname(&v) == 0 && strcmp(v.domainname, "dom") == 0);
	pid_t pid = fork();
	if (pid == 0)
		_exit(setuid(1000) == 0 && sethostname("x", 1) == -1 &&
				      errno == EPERM
			      ? 0
			      : 1);
	CHECK(wait_ok(pid));
	CHECK(sethostname(u.nodename, strlen(u.nodename)) == 0);
	CHECK(setdomainname(u.domainname, strlen(u.domainname)) == 0);
	CHECK(uname(&v) == 0 && strcmp(v.nodename, u.nodename) == 0 &&
	      strcmp(v.domainname, u.domainname) == 0);
}

int main(void)
{
	proc_tasks();
	uptime_idle();
	priority();
	top_of_user_space();
	timers();
	ownership();
	fifos();
	big_stack();
	proc_sys();
	descriptors();
	unmounting();
	clocks();
	groups_and_files();
	names();
	return check_report();
}
