/*
 * /test/c_files: the files a Unix program expects, through musl.
 * /dev/zero, /dev/full, /dev/random, /dev/urandom; umask; on /tmp:
 * rename (replacing, across directories, into itself, renameat2's
 * flags), link, symlink (followed in the middle and at the end of a
 * path, loops), readlink, rmdir, chmod, fchmod, utimensat and file
 * times; /proc: /proc/self, /proc/PID/{stat,status,cmdline,comm,exe},
 * /proc/meminfo, /proc/uptime, /proc/loadavg in Linux's formats. Exits
 * 0 when every check holds; each failure is printed. Runs unchanged on
 * Linux.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

static const char *me = "c_files";
#include "check.h"

/* -errno of a failed call, or its result. */
#define ERR(call) ((call) < 0 ? -errno : 0)

static void devices(void)
{
	unsigned char buf[300];
	int fd = open("/dev/zero", O_RDWR);
	CHECK(fd >= 0);
	memset(buf, 0xaa, sizeof buf);
	CHECK(read(fd, buf, sizeof buf) == sizeof buf);
	int zeros = 1;
	for (size_t i = 0; i < sizeof buf; i++)
		zeros &= buf[i] == 0;
	CHECK(zeros);
	CHECK(write(fd, buf, 10) == 10);
	close(fd);

	fd = open("/dev/full", O_RDWR);
	CHECK(fd >= 0);
	CHECK(write(fd, buf, 1) == -1 && errno == ENOSPC);
	buf[0] = 1;
	CHECK(read(fd, buf, 4) == 4 && buf[0] == 0);
	close(fd);

	const char *randoms[] = {"/dev/random", "/dev/urandom"};
	for (int r = 0; r < 2; r++) {
		unsigned char a[32], b[32];
		fd = open(randoms[r], O_RDONLY);
		CHECK(fd >= 0);
		CHECK(read(fd, a, sizeof a) == sizeof a);
		CHECK(read(fd, b, sizeof b) == sizeof b);
		CHECK(memcmp(a, b, sizeof a) != 0);
		close(fd);
	}

	struct stat st;
	CHECK(stat("/dev/zero", &st) == 0 && S_ISCHR(st.st_mode));
	CHECK(major(st.st_rdev) == 1 && minor(st.st_rdev) == 5);
	CHECK(stat("/dev/urandom", &st) == 0 && minor(st.st_rdev) == 9);
	CHECK(stat("/dev/full", &st) == 0 && minor(st.st_rdev) == 7);
	CHECK(stat("/dev/zero/x", &st) == -1 && errno == ENOTDIR);
	CHECK(stat("/dev/nothing", &st) == -1 && errno == ENOENT);
}

static void umask_applies(const char *dir)
{
	char path[256];
	struct stat st;
	mode_t old = umask(027);
	CHECK(umask(027) == 027);
	snprintf(path, sizeof path, "%s/masked", dir);
	int fd = open(path, O_CREAT | O_WRONLY, 0666);
	CHECK(fd >= 0);
	close(fd);
	CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0640);
	snprintf(path, sizeof path, "%s/maskdir", dir);
	CHECK(mkdir(path, 0777) == 0);
	CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0750);
	CHECK(umask(old) == 027);
}

static void write_file(const char *path, const char *text)
{
	int fd = open(path, O_CREAT | O_WRONLY | O_TRUNC, 0644);
	CHECK(fd >= 0);
	CHECK(write(fd, text, strlen(text)) == (ssize_t)strlen(text));
	close(fd);
}

/* The file's contents (up to 255 bytes), or "" when it cannot be read. */
static const char *contents(const char *path)
{
	static char buf[256];
	buf[0] = 0;
	int fd = open(path, O_RDONLY);
	if (fd < 0)
		return "";
	ssize_t n = read(fd, buf, sizeof buf - 1);
	buf[n > 0 ? n : 0] = 0;
	close(fd);
	return buf;
}

static void names(void)
{
	struct stat st, st2;
	char buf[64];
	CHECK(chdir("/tmp/c_files") == 0);
	CHECK(mkdir("d", 0755) == 0 && mkdir("e", 0755) == 0);
	write_file("a", "first");
	write_file("b", "second");

	/* rename: a file over a file, then across directories. */
	CHECK(stat("a", &st) == 0);
	CHECK(rename("a", "b") == 0);
	CHECK(strcmp(contents("b"), "first") == 0);
	CHECK(access("a", F_OK) == -1 && errno == ENOENT);
	CHECK(stat("b", &st2) == 0 && st2.st_ino == st.st_ino);
	CHECK(rename("b", "d/moved") == 0);
	CHECK(strcmp(contents("d/moved"), "first") == 0);
	CHECK(ERR(rename("d/moved", "e")) == -EISDIR);
	CHECK(ERR(rename("e", "d/moved")) == -ENOTDIR);
	CHECK(ERR(rename("e", "d")) == -ENOTEMPTY);
	CHECK(ERR(rename("d", "d/sub")) == -EINVAL);
	CHECK(ERR(rename("nothing", "x")) == -ENOENT);
	CHECK(ERR(rename("d/moved", "/proc/x")) == -EXDEV);
	CHECK(rmdir("e") == 0);
	CHECK(rename("d", "e") == 0 && stat("e/moved", &st) == 0);
	CHECK(syscall(SYS_renameat2, AT_FDCWD, "e/moved", AT_FDCWD, "e",
		      1 /* RENAME_NOREPLACE */) == -1 && errno == EEXIST);
	CHECK(syscall(SYS_renameat2, AT_FDCWD, "e/moved", AT_FDCWD, "e", 0x10)
	      == -1 && errno == EINVAL);

	/* link: two names, one inode. */
	CHECK(link("e/moved", "hard") == 0);
	CHECK(stat("hard", &st) == 0 && st.st_nlink == 2);
	CHECK(ERR(link("e/moved", "hard")) == -EEXIST);
	CHECK(ERR(link("e", "dirlink")) == -EPERM);
	CHECK(unlink("e/moved") == 0);
	CHECK(stat("hard", &st) == 0 && st.st_nlink == 1);
	CHECK(strcmp(contents("hard"), "first") == 0);

	/* symlink and readlink. */
	CHECK(symlink("hard", "soft") == 0);
	CHECK(symlink("e", "dirsoft") == 0);
	CHECK(symlink("/tmp/c_files/loop", "loop") == 0);
	CHECK(symlink("nowhere", "dangling") == 0);
	CHECK(ERR(symlink("x", "hard")) == -EEXIST);
	CHECK(ERR(symlink("x", "dangling")) == -EEXIST);
	CHECK(strcmp(contents("soft"), "first") == 0);
	CHECK(lstat("soft", &st) == 0 && S_ISLNK(st.st_mode));
	CHECK(st.st_size == 4);
	CHECK(stat("soft", &st) == 0 && S_ISREG(st.st_mode));
	write_file("dirsoft/inner", "through a link");
	CHECK(strcmp(contents("e/inner"), "through a link") == 0);
	CHECK(stat("dirsoft/", &st) == 0 && S_ISDIR(st.st_mode));
	CHECK(ERR(stat("loop", &st)) == -ELOOP);
	CHECK(ERR(stat("dangling", &st)) == -ENOENT);
	memset(buf, 0, sizeof buf);
	CHECK(readlink("soft", buf, sizeof buf) == 4 && strcmp(buf, "hard") == 0);
	CHECK(readlink("soft", buf, 2) == 2);
	CHECK(ERR(readlink("hard", buf, sizeof buf)) == -EINVAL);
	/* musl's readlink turns a size of 0 into 1: ask the kernel. */
	CHECK(syscall(SYS_readlink, "soft", buf, 0) == -1 && errno == EINVAL);
	CHECK(unlink("soft") == 0 && stat("hard", &st) == 0);

	/* rmdir. */
	CHECK(ERR(rmdir("e")) == -ENOTEMPTY);
	CHECK(ERR(rmdir("hard")) == -ENOTDIR);
	CHECK(ERR(rmdir("nothing")) == -ENOENT);
	CHECK(unlink("e/inner") == 0 && rmdir("e") == 0);
	CHECK(ERR(unlinkat(AT_FDCWD, "hard", AT_REMOVEDIR)) == -ENOTDIR);
	/* Linux: a mount point is busy; Tine: /proc is read-only. */
	CHECK(ERR(rmdir("/proc")) == -EBUSY || errno == EROFS);

	/* chmod, fchmod. */
	CHECK(chmod("hard", 0600) == 0);
	CHECK(stat("hard", &st) == 0 && (st.st_mode & 07777) == 0600);
	int fd = open("hard", O_RDONLY);
	CHECK(fd >= 0 && fchmod(fd, 04751) == 0);
	CHECK(fstat(fd, &st) == 0 && (st.st_mode & 07777) == 04751);
	close(fd);

	/* Times: utimensat sets, UTIME_OMIT keeps, a write moves mtime. */
	struct timespec times[2] = {{1000000000, 5}, {1200000000, 7}};
	CHECK(utimensat(AT_FDCWD, "hard", times, 0) == 0);
	CHECK(stat("hard", &st) == 0 && st.st_atim.tv_sec == 1000000000 &&
	      st.st_atim.tv_nsec == 5 && st.st_mtim.tv_sec == 1200000000);
	times[0].tv_nsec = UTIME_OMIT;
	times[1].tv_nsec = UTIME_NOW;
	CHECK(utimensat(AT_FDCWD, "hard", times, 0) == 0);
	CHECK(stat("hard", &st) == 0 && st.st_atim.tv_sec == 1000000000);
	CHECK(st.st_mtim.tv_sec > 1200000000);
	times[1].tv_nsec = 1000000000;
	CHECK(ERR(utimensat(AT_FDCWD, "hard", times, 0)) == -EINVAL);
	CHECK(ERR(utimensat(AT_FDCWD, "hard", NULL, 0x8000)) == -EINVAL);
	CHECK(utimensat(AT_FDCWD, "hard", NULL, 0) == 0);
	CHECK(stat("hard", &st) == 0 && st.st_atim.tv_sec > 1000000000);

	CHECK(unlink("hard") == 0 && unlink("loop") == 0 &&
	      unlink("dangling") == 0 && unlink("dirsoft") == 0);
	CHECK(chdir("/") == 0);
}

/* The n-th (from 1) space-separated field of /proc/PID/stat. */
static long stat_field(const char *stat, int n)
{
	const char *p = strrchr(stat, ')');
	if (!p)
		return -1;
	p += 2;
	for (int field = 3; field < n; field++) {
		p = strchr(p, ' ');
		if (!p)
			return -1;
		p++;
	}
	return strtol(p, NULL, 10);
}

static void proc(void)
{
	char path[64], buf[64];
	pid_t pid = getpid();
	struct stat st;
	memset(buf, 0, sizeof buf);
	CHECK(readlink("/proc/self", buf, sizeof buf) > 0);
	CHECK(atoi(buf) == pid);
	CHECK(stat("/proc/self", &st) == 0 && S_ISDIR(st.st_mode));
	snprintf(path, sizeof path, "/proc/%d/stat", pid);
	char stat_line[512];
	snprintf(stat_line, sizeof stat_line, "%s", contents(path));
	snprintf(buf, sizeof buf, "%d (c_files) R ", pid);
	/* Linux shows the reader running (R); Tine says S for sleeping. */
	CHECK(strncmp(stat_line, buf, strlen(buf) - 2) == 0);
	CHECK(stat_field(stat_line, 4) == getppid());
	CHECK(stat_field(stat_line, 5) == getpgrp());
	CHECK(stat_field(stat_line, 6) == getsid(0));
	CHECK(stat_field(stat_line, 20) == 1);
	CHECK(strcmp(contents("/proc/self/stat"), "") != 0);
	const char *status = contents("/proc/self/status");
	CHECK(strncmp(status, "Name:\tc_files\n", 14) == 0);
	snprintf(buf, sizeof buf, "\nPid:\t%d\nPPid:\t%d\n", pid, getppid());
	CHECK(strstr(status, buf) != NULL);
	CHECK(strstr(status, "\nUid:\t") != NULL);
	int fd = open("/proc/self/cmdline", O_RDONLY);
	char args[64] = {0};
	CHECK(fd >= 0 && read(fd, args, sizeof args) == 24);
	CHECK(memcmp(args, "/test/c_files\0two words\0", 24) == 0);
	close(fd);
	CHECK(strcmp(contents("/proc/self/comm"), "c_files\n") == 0);
	memset(buf, 0, sizeof buf);
	CHECK(readlink("/proc/self/exe", buf, sizeof buf) == 13);
	CHECK(strcmp(buf, "/test/c_files") == 0);
	CHECK(lstat("/proc/self/exe", &st) == 0 && S_ISLNK(st.st_mode));
	CHECK(stat("/proc/self/exe", &st) == 0 && S_ISREG(st.st_mode));

	unsigned long total = 0, free_kb = 0;
	CHECK(sscanf(contents("/proc/meminfo"),
		     "MemTotal: %lu kB\nMemFree: %lu kB", &total, &free_kb) == 2);
	CHECK(total > 0 && free_kb > 0 && free_kb <= total);
	double up = -1, idle = -1;
	CHECK(sscanf(contents("/proc/uptime"), "%lf %lf", &up, &idle) == 2);
	CHECK(up > 0 && idle >= 0);
	double l1 = -1, l5, l15;
	int running = -1, total_procs = -1, last = -1;
	CHECK(sscanf(contents("/proc/loadavg"), "%lf %lf %lf %d/%d %d", &l1,
		     &l5, &l15, &running, &total_procs, &last) == 6);
	CHECK(l1 >= 0 && running >= 1 && total_procs >= 1 && last > 0);

	/* Listing /proc shows this process; the files are read-only. */
	DIR *dir = opendir("/proc");
	int found = 0;
	struct dirent *e;
	while (dir && (e = readdir(dir)))
		found |= atoi(e->d_name) == pid;
	if (dir)
		closedir(dir);
	CHECK(found);
	CHECK(open("/proc/self/comm", O_WRONLY | O_TRUNC) == -1 ||
	      getuid() == 0);
	fd = open("/proc/meminfo", O_WRONLY);
	CHECK(fd == -1 || write(fd, "x", 1) == -1);
	if (fd >= 0)
		close(fd);
	CHECK(ERR(stat("/proc/999999/stat", &st)) == -ENOENT);
}

int main(int argc, char **argv)
{
	if (argc < 2 || strcmp(argv[1], "two words") != 0) {
		/* Run again with known arguments, for /proc/self/cmdline. */
		char *args[] = {"/test/c_files", "two words", NULL};
		execv("/test/c_files", args);
		printf("%s: FAILED: execv: %s\n", me, strerror(errno));
		return 1;
	}
	devices();
	CHECK(mkdir("/tmp/c_files", 0755) == 0);
	umask_applies("/tmp/c_files");
	unlink("/tmp/c_files/masked");
	rmdir("/tmp/c_files/maskdir");
	names();
	proc();
	CHECK(rmdir("/tmp/c_files") == 0);
	return check_report();
}
