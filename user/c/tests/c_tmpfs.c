/*
 * /test/c_tmpfs: files in /tmp as an unprivileged user (uid 65534).
 * The regression test of issue 13: pwrite(fd, buf, 0, 1 << 38) used to
 * grow the file's heap buffer to 256 GiB and panic the kernel; a
 * zero-length read or write at any offset returns 0 and changes nothing.
 * Also: a write far past the end makes a sparse file (st_blocks counts
 * only the pages written, holes read as zeros), ftruncate grows with a
 * hole and shrinks, EFBIG/EINVAL at the limits. Exits 0 when every check
 * holds; each failure is printed. Runs unchanged on Linux (as root, so
 * it can drop to uid 65534).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *me = "c_tmpfs";
#include "check.h"

static off_t size_of(int fd)
{
	struct stat st;
	return fstat(fd, &st) == 0 ? st.st_size : -1;
}

static long long blocks_of(int fd)
{
	struct stat st;
	return fstat(fd, &st) == 0 ? (long long)st.st_blocks : -1;
}

/* Everything below runs as uid 65534 in a child. */
static void unprivileged(void)
{
	char path[64], buf[16];
	snprintf(path, sizeof path, "/tmp/c_tmpfs.%d", (int)getpid());
	int fd = open(path, O_RDWR | O_CREAT | O_EXCL, 0600);
	CHECK(fd >= 0);
	if (fd < 0)
		return;
	CHECK(write(fd, "abc", 3) == 3);

	/* The reported panic, and its relatives. */
	CHECK(pwrite(fd, buf, 0, (off_t)1 << 38) == 0);
	CHECK(pwrite(fd, buf, 0, INT64_MAX) == 0);
	CHECK(pread(fd, buf, 0, (off_t)1 << 38) == 0);
	CHECK(lseek(fd, (off_t)1 << 40, SEEK_SET) == (off_t)1 << 40);
	CHECK(write(fd, buf, 0) == 0);
	CHECK(read(fd, buf, sizeof buf) == 0);
	CHECK(size_of(fd) == 3);
	errno = 0;
	CHECK(pwrite(fd, buf, 1, -1) == -1 && errno == EINVAL);
	CHECK(size_of(fd) == 3);

	/* A sparse file: one page at 256 GiB. */
	CHECK(pwrite(fd, "far", 3, (off_t)1 << 38) == 3);
	CHECK(size_of(fd) == ((off_t)1 << 38) + 3);
	CHECK(blocks_of(fd) > 0 && blocks_of(fd) <= 64);
	memset(buf, 0x55, sizeof buf);
	CHECK(pread(fd, buf, 4, (off_t)1 << 30) == 4);
	CHECK(memcmp(buf, "\0\0\0\0", 4) == 0);
	CHECK(pread(fd, buf, 3, (off_t)1 << 38) == 3 && memcmp(buf, "far", 3) == 0);
	CHECK(pread(fd, buf, sizeof buf, 0) == sizeof buf);
	CHECK(memcmp(buf, "abc\0", 4) == 0);

	/* ftruncate: shrink frees, grow makes a hole. */
	CHECK(ftruncate(fd, 2) == 0 && size_of(fd) == 2);
	CHECK(ftruncate(fd, (off_t)1 << 36) == 0);
	CHECK(size_of(fd) == (off_t)1 << 36);
	CHECK(pread(fd, buf, 4, 0) == 4 && memcmp(buf, "ab\0\0", 4) == 0);
	errno = 0;
	CHECK(ftruncate(fd, -1) == -1 && errno == EINVAL);
	CHECK(truncate(path, 1) == 0 && size_of(fd) == 1);

	/* Writes at the largest offsets. */
	errno = 0;
	CHECK(pwrite(fd, "x", 1, INT64_MAX) == -1 && errno == EFBIG);
	CHECK(size_of(fd) == 1);

	int ro = open(path, O_RDONLY);
	CHECK(ro >= 0);
	errno = 0;
	CHECK(ftruncate(ro, 0) == -1 && errno == EINVAL);
	close(ro);

	CHECK(close(fd) == 0);
	CHECK(unlink(path) == 0);
}

int main(void)
{
	pid_t pid = fork();
	if (pid == 0) {
		if (setgid(65534) != 0 || setuid(65534) != 0) {
			printf("%s: cannot become uid 65534\n", me);
			_exit(2);
		}
		unprivileged();
		fflush(stdout);
		_exit(failures != 0);
	}
	int status = 0;
	CHECK(pid > 0 && waitpid(pid, &status, 0) == pid);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	return check_report();
}
