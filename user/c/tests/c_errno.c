/*
 * /test/c_errno: answers to odd or bad arguments that Linux gives and
 * Tine once did not. wait4(INT_MIN) is ESRCH (after the options check);
 * setpgid with a negative pgid, or pgid 0 standing for a negative pid,
 * is EINVAL. execve of a directory, a device or a file without an
 * execute bit is EACCES; a #! script on /tmp runs, any other file there
 * is ENOEXEC; a NULL argv becomes [""]. chdir or open through a symbolic link lands in the
 * directory itself (getcwd, ".."). A descriptor argument is an int (or unsigned
 * int): its upper 32 bits are ignored, for every call taking one, and
 * so are those of fcntl's and ioctl's command, dup3's flags and
 * close_range's bounds. mmap ignores unknown PROT bits (mprotect refuses
 * them, PROT_SEM aside); MAP_SHARED|MAP_GROWSDOWN is EINVAL. statfs and
 * fstatfs answer (proc, pipes), and /proc has cpuinfo, mounts, version
 * and PID/cwd and PID/fd; a pread at offset 0 sees a /proc file as it
 * is now. Exits 0
 * when every check holds; each failure is printed. Runs unchanged on
 * Linux.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/utsname.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *me = "c_errno";
#include "check.h"

#ifndef SYS_close_range
#define SYS_close_range 436
#endif

/* Bits above an int: the kernel must look only at the low 32. */
#define HIGH (1l << 32)

/* The raw call: -errno on failure. */
static long sys(long n, long a, long b, long c, long d, long e)
{
	long v = syscall(n, a, b, c, d, e);
	return v < 0 ? -errno : v;
}

static void wait_and_pgid(void)
{
	CHECK(sys(SYS_wait4, INT_MIN, 0, 0, 0, 0) == -ESRCH);
	CHECK(sys(SYS_wait4, INT_MIN, 0, WNOHANG, 0, 0) == -ESRCH);
	/* Unknown options come first. */
	CHECK(sys(SYS_wait4, INT_MIN, 0, 0x4000, 0, 0) == -EINVAL);
	/* No children: -1 and other groups are ECHILD. */
	CHECK(sys(SYS_wait4, -1, 0, 0, 0, 0) == -ECHILD);
	CHECK(sys(SYS_wait4, INT_MIN + 1, 0, 0, 0, 0) == -ECHILD);

	/* A negative pgid, given or standing in for pid (pgid 0). */
	CHECK(sys(SYS_setpgid, -1, 0, 0, 0, 0) == -EINVAL);
	CHECK(sys(SYS_setpgid, 0, -1, 0, 0, 0) == -EINVAL);
	CHECK(sys(SYS_setpgid, -5, -5, 0, 0, 0) == -EINVAL);
	CHECK(sys(SYS_setpgid, INT_MIN, 0, 0, 0, 0) == -EINVAL);
	/* A negative pid with a good pgid: no such process. */
	CHECK(sys(SYS_setpgid, -1, getpid(), 0, 0, 0) == -ESRCH);
	/* The caller into its own group still works. */
	CHECK(sys(SYS_setpgid, 0, 0, 0, 0, 0) == 0 || errno == EPERM);
}

/* execve's answer for `path`, from a child (0 when it ran). */
static long exec_errno(const char *path)
{
	char *argv[] = {(char *)path, 0};
	char *envp[] = {0};
	long v = sys(SYS_execve, (long)path, (long)argv, (long)envp, 0, 0);
	return v;
}

static void exec_non_files(void)
{
	CHECK(exec_errno("/") == -EACCES);
	CHECK(exec_errno("/tmp") == -EACCES);
	CHECK(exec_errno("/dev") == -EACCES);
	CHECK(exec_errno("/proc") == -EACCES);
	CHECK(exec_errno("/dev/null") == -EACCES);
	CHECK(exec_errno("/proc/self/status") == -EACCES);
	const char *dir = "/tmp/c_errno.d";
	rmdir(dir);
	CHECK(mkdir(dir, 0755) == 0);
	CHECK(exec_errno(dir) == -EACCES);
	CHECK(rmdir(dir) == 0);
	/* A file without an execute bit. */
	const char *file = "/tmp/c_errno.f";
	unlink(file);
	int fd = open(file, O_WRONLY | O_CREAT | O_EXCL, 0644);
	CHECK(fd >= 0);
	CHECK(write(fd, "#!/bin/sh\n", 10) == 10);
	close(fd);
	CHECK(exec_errno(file) == -EACCES);
	CHECK(unlink(file) == 0);
	/* An executable tmpfs file: a #! script runs its interpreter (this
	 * program, through /proc/self/exe), anything else is ENOEXEC. */
	const char *script = "/tmp/c_errno.sh";
	unlink(script);
	fd = open(script, O_WRONLY | O_CREAT | O_EXCL, 0755);
	CHECK(fd >= 0);
	const char *line = "#!/proc/self/exe as-script\n";
	CHECK(write(fd, line, strlen(line)) == (long)strlen(line));
	close(fd);
	pid_t child = fork();
	if (child == 0) {
		exec_errno(script);
		_exit(99);
	}
	int status = 0;
	CHECK(waitpid(child, &status, 0) == child);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 42);
	fd = open(script, O_WRONLY | O_TRUNC);
	CHECK(fd >= 0 && write(fd, "echo hi\n", 8) == 8);
	close(fd);
	CHECK(exec_errno(script) == -ENOEXEC);
	CHECK(unlink(script) == 0);
	/* A NULL argv becomes [""]: argc is 1, never 0. */
	child = fork();
	if (child == 0) {
		syscall(SYS_execve, "/proc/self/exe", 0, 0);
		_exit(98);
	}
	CHECK(waitpid(child, &status, 0) == child);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 43);
	/* Still ENOENT and ENOTDIR where they belong. */
	CHECK(exec_errno("/tmp/c_errno.none") == -ENOENT);
	CHECK(exec_errno("/dev/null/x") == -ENOTDIR);
}

/* chdir and open through a symbolic link land in the directory itself:
 * getcwd shows its path and ".." is its parent. */
static void through_links(void)
{
	char cwd[256];
	CHECK(getcwd(cwd, sizeof cwd) != 0);
	const char *top = "/tmp/c_errno.top", *sub = "/tmp/c_errno.top/sub";
	const char *link = "/tmp/c_errno.link";
	unlink(link);
	rmdir(sub);
	rmdir(top);
	CHECK(mkdir(top, 0755) == 0 && mkdir(sub, 0755) == 0);
	CHECK(symlink("c_errno.top/sub", link) == 0);
	char buf[256];
	CHECK(chdir(link) == 0);
	CHECK(getcwd(buf, sizeof buf) && strcmp(buf, sub) == 0);
	CHECK(chdir("..") == 0);
	CHECK(getcwd(buf, sizeof buf) && strcmp(buf, top) == 0);
	CHECK(chdir(cwd) == 0);
	int fd = open(link, O_RDONLY | O_DIRECTORY);
	CHECK(fd >= 0);
	struct stat up, want;
	CHECK(fstatat(fd, "..", &up, 0) == 0 && stat(top, &want) == 0);
	CHECK(up.st_ino == want.st_ino);
	CHECK(fchdir(fd) == 0);
	CHECK(getcwd(buf, sizeof buf) && strcmp(buf, sub) == 0);
	CHECK(chdir(cwd) == 0);
	close(fd);
	CHECK(unlink(link) == 0 && rmdir(sub) == 0 && rmdir(top) == 0);
}

static void fd_upper_bits(void)
{
	int p[2];
	CHECK(pipe(p) == 0);
	long r = HIGH | p[0], w = HIGH | p[1];
	char c = 0;
	CHECK(sys(SYS_write, w, (long)"a", 1, 0, 0) == 1);
	int n = -1;
	CHECK(sys(SYS_ioctl, r, HIGH | FIONREAD, (long)&n, 0, 0) == 0 && n == 1);
	CHECK(sys(SYS_read, r, (long)&c, 1, 0, 0) == 1 && c == 'a');
	struct stat st;
	CHECK(sys(SYS_fstat, r, (long)&st, 0, 0, 0) == 0 && S_ISFIFO(st.st_mode));
	/* fcntl: the descriptor and the command are ints. */
	CHECK(sys(SYS_fcntl, w, HIGH | F_SETFD, FD_CLOEXEC, 0, 0) == 0);
	CHECK(sys(SYS_fcntl, w, HIGH | F_GETFD, 0, 0, 0) == FD_CLOEXEC);
	CHECK((sys(SYS_fcntl, r, F_GETFL, 0, 0, 0) & O_ACCMODE) == O_RDONLY);
	/* dup2 onto itself, through the upper bits: returns it, flags kept. */
	CHECK(sys(SYS_dup2, p[1], w, 0, 0, 0) == p[1]);
	CHECK(fcntl(p[1], F_GETFD) == FD_CLOEXEC);
	CHECK(sys(SYS_dup3, p[1], w, 0, 0, 0) == -EINVAL);
	int d = sys(SYS_dup, r, 0, 0, 0, 0);
	CHECK(d > p[1]);
	/* dup3's flags are an int too. */
	CHECK(sys(SYS_dup3, r, HIGH | d, HIGH | O_CLOEXEC, 0, 0) == d);
	CHECK(fcntl(d, F_GETFD) == FD_CLOEXEC);
	/* lseek on a pipe: ESPIPE (not EBADF). */
	CHECK(sys(SYS_lseek, r, 0, SEEK_CUR, 0, 0) == -ESPIPE);
	/* poll and epoll see the same descriptor. */
	int ep = epoll_create1(0);
	CHECK(ep >= 0);
	struct epoll_event ev = {.events = EPOLLIN, .data.u64 = 7};
	CHECK(sys(SYS_epoll_ctl, HIGH | ep, EPOLL_CTL_ADD, r, (long)&ev, 0) == 0);
	CHECK(write(p[1], "b", 1) == 1);
	struct epoll_event got = {0};
	CHECK(sys(SYS_epoll_wait, HIGH | ep, (long)&got, 1, 0, 0) == 1 && got.data.u64 == 7);
	close(ep);
	/* A directory's entries through the upper bits. */
	int dir = open("/", O_RDONLY | O_DIRECTORY);
	CHECK(dir >= 0);
	char buf[512];
	CHECK(sys(SYS_getdents64, HIGH | dir, (long)buf, sizeof buf, 0, 0) > 0);
	CHECK(sys(SYS_fchdir, HIGH | dir, 0, 0, 0, 0) == 0);
	struct stat at;
	CHECK(sys(SYS_newfstatat, HIGH | dir, (long)"tmp", (long)&at, 0, 0) == 0 &&
	      S_ISDIR(at.st_mode));
	close(dir);
	/* close_range's bounds are unsigned ints: HIGH|d ends at d. */
	int e = dup(p[0]);
	CHECK(e == d + 1);
	CHECK(sys(SYS_close_range, HIGH | d, HIGH | d, 0, 0, 0) == 0);
	CHECK(fcntl(d, F_GETFD) == -1 && errno == EBADF);
	CHECK(fcntl(e, F_GETFD) == 0);
	/* ... and first > last is judged on the low halves. */
	CHECK(sys(SYS_close_range, e, HIGH | (e - 1), 0, 0, 0) == -EINVAL);
	CHECK(fcntl(e, F_GETFD) == 0);
	/* close. */
	CHECK(sys(SYS_close, HIGH | e, 0, 0, 0, 0) == 0);
	CHECK(fcntl(e, F_GETFD) == -1 && errno == EBADF);
	CHECK(sys(SYS_close, HIGH | e, 0, 0, 0, 0) == -EBADF);
	/* A negative int, with or without upper bits, is EBADF. */
	CHECK(sys(SYS_close, 0xffffffffl, 0, 0, 0, 0) == -EBADF);
	CHECK(sys(SYS_fstat, -1, (long)&st, 0, 0, 0) == -EBADF);
	CHECK(sys(SYS_close, HIGH | p[0], 0, 0, 0, 0) == 0);
	CHECK(sys(SYS_close, HIGH | p[1], 0, 0, 0, 0) == 0);
}

/* statfs, fstatfs and the /proc files programs read for the machine:
 * cpuinfo, mounts, version, PID/cwd. */
static void fs_and_proc(void)
{
	struct statfs fs;
	CHECK(statfs("/proc", &fs) == 0 && fs.f_type == 0x9fa0);
	CHECK(statfs("/tmp", &fs) == 0 && fs.f_bsize > 0 && fs.f_namelen == 255 &&
	      fs.f_blocks >= fs.f_bfree && fs.f_bfree >= fs.f_bavail && fs.f_files > 0);
	CHECK(statfs("/", &fs) == 0 && fs.f_bsize > 0);
	CHECK(statfs("/tmp/c_errno.none", &fs) == -1 && errno == ENOENT);
	int p[2];
	CHECK(pipe(p) == 0);
	CHECK(fstatfs(p[0], &fs) == 0 && fs.f_type == 0x50495045 /* PIPEFS_MAGIC */);
	close(p[0]);
	close(p[1]);
	CHECK(fstatfs(p[0], &fs) == -1 && errno == EBADF);

	char buf[4096], cwd[256], link[256];
	CHECK(getcwd(cwd, sizeof cwd) != 0);
	long n = readlink("/proc/self/cwd", link, sizeof link - 1);
	CHECK(n > 0);
	link[n > 0 ? n : 0] = 0;
	CHECK(strcmp(link, cwd) == 0);
	struct stat a, b;
	CHECK(stat("/proc/self/cwd/.", &a) == 0 && stat(".", &b) == 0 && a.st_ino == b.st_ino);
	CHECK(lstat("/proc/self/cwd", &a) == 0 && S_ISLNK(a.st_mode));

	/* /proc/self/fd: a link per descriptor. */
	const char *ff = "/tmp/c_errno.fd";
	int f = open(ff, O_RDWR | O_CREAT | O_TRUNC, 0600);
	CHECK(f >= 0 && pipe(p) == 0);
	char name[64];
	snprintf(name, sizeof name, "/proc/self/fd/%d", f);
	n = readlink(name, link, sizeof link - 1);
	link[n > 0 ? n : 0] = 0;
	CHECK(strcmp(link, ff) == 0);
	CHECK(stat(name, &a) == 0 && fstat(f, &b) == 0 && a.st_ino == b.st_ino);
	snprintf(name, sizeof name, "/proc/self/fd/%d", p[0]);
	n = readlink(name, link, sizeof link - 1);
	link[n > 0 ? n : 0] = 0;
	CHECK(strncmp(link, "pipe:[", 6) == 0);
	DIR *d = opendir("/proc/self/fd");
	CHECK(d != 0);
	int seen = 0;
	for (struct dirent *e; d && (e = readdir(d));)
		seen += atoi(e->d_name) == f && e->d_name[0] != '.';
	if (d)
		closedir(d);
	CHECK(seen == 1);
	close(p[0]);
	close(p[1]);
	close(f);
	CHECK(unlink(ff) == 0);
	CHECK(readlink(name, link, sizeof link) == -1 && errno == ENOENT);

	/* A read from offset 0 sees the file as it is now. */
	int up = open("/proc/uptime", O_RDONLY);
	CHECK(up >= 0);
	char u1[64] = {0}, u2[64] = {0};
	CHECK(pread(up, u1, sizeof u1 - 1, 0) > 0);
	usleep(60 * 1000);
	CHECK(pread(up, u2, sizeof u2 - 1, 0) > 0);
	CHECK(strtod(u2, 0) > strtod(u1, 0));
	close(up);

	int fd = open("/proc/cpuinfo", O_RDONLY);
	CHECK(fd >= 0);
	n = read(fd, buf, sizeof buf - 1);
	CHECK(n > 0);
	buf[n > 0 ? n : 0] = 0;
	CHECK(strncmp(buf, "processor\t: 0\n", 14) == 0);
	close(fd);
	fd = open("/proc/mounts", O_RDONLY);
	CHECK(fd >= 0);
	n = read(fd, buf, sizeof buf - 1);
	buf[n > 0 ? n : 0] = 0;
	CHECK(strstr(buf, " /proc proc ") != 0);
	close(fd);
	struct utsname u;
	CHECK(uname(&u) == 0);
	fd = open("/proc/version", O_RDONLY);
	CHECK(fd >= 0);
	n = read(fd, buf, sizeof buf - 1);
	buf[n > 0 ? n : 0] = 0;
	char want[160];
	snprintf(want, sizeof want, "%s version %s ", u.sysname, u.release);
	CHECK(strncmp(buf, want, strlen(want)) == 0);
	close(fd);
}

static void mmap_prot(void)
{
	/* Unknown PROT bits are ignored by mmap. */
	long prot = PROT_READ | PROT_WRITE | 0x100 | 0x10000000;
	char *m = mmap(0, 4096, prot, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(m != MAP_FAILED);
	if (m != MAP_FAILED) {
		m[0] = 1;
		/* mprotect refuses them; PROT_SEM is accepted. */
		CHECK(mprotect(m, 4096, PROT_READ | 0x100) == -1 && errno == EINVAL);
		CHECK(mprotect(m, 4096, PROT_READ | 0x8 /* PROT_SEM */) == 0);
		CHECK(m[0] == 1);
		munmap(m, 4096);
	}
	/* Shared memory cannot grow down. */
	m = mmap(0, 4096, PROT_READ, MAP_SHARED | MAP_ANONYMOUS | MAP_GROWSDOWN, -1, 0);
	CHECK(m == MAP_FAILED && errno == EINVAL);
	/* Private memory may. */
	m = mmap(0, 8192, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_GROWSDOWN, -1, 0);
	CHECK(m != MAP_FAILED);
	if (m != MAP_FAILED)
		munmap(m, 8192);
}

int main(int argc, char **argv)
{
	/* Run with a NULL argv: Linux gives it [""]. */
	if (argc == 1 && argv[0][0] == 0)
		return 43;
	/* Run as the interpreter of exec_non_files' script. */
	if (argc == 3 && strcmp(argv[1], "as-script") == 0)
		return strcmp(argv[2], "/tmp/c_errno.sh") == 0 ? 42 : 1;
	wait_and_pgid();
	exec_non_files();
	through_links();
	fd_upper_bits();
	fs_and_proc();
	mmap_prot();
	return check_report();
}
