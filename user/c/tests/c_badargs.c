/*
 * /test/c_badargs: hostile arguments the EFAULT table does not cover,
 * answered as Linux answers them. read, write, pread64 and pwrite64 with
 * a buffer whose range reaches past user space (a huge count from a
 * small buffer, a kernel address even with count 0, the last page below
 * the top) are EFAULT before anything happens: no byte is read or
 * written and the offset does not move (Linux's access_ok). clone and
 * clone3 with CLONE_SETTLS outside user space (non-canonical or kernel)
 * are EPERM, as arch_prctl(ARCH_SET_FS) is, and make no child. Exits 0
 * when every check holds; each failure is printed. Runs unchanged on
 * Linux.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *me = "c_badargs";
#include "check.h"

#ifndef SYS_clone3
#define SYS_clone3 435
#endif

/* Past the lower canonical half; a kernel address; the last user page
 * (Linux's TASK_SIZE_MAX is its start). */
#define NONCANONICAL 0x8000000000000000ul
#define KERNEL 0xffff800000001000ul
#define TOP 0x7ffffffff000ul

static const char *path = "/tmp/c_badargs";

/* The raw call: -errno on failure. */
static long sys(long n, long a, long b, long c, long d, long e)
{
	long v = syscall(n, a, b, c, d, e);
	return v < 0 ? -errno : v;
}

static void io_past_user_space(void)
{
	char buf[64];
	memset(buf, 'x', sizeof buf);
	int null = open("/dev/null", O_RDWR);
	int zero = open("/dev/zero", O_RDONLY);
	CHECK(null >= 0 && zero >= 0);
	long b = (long)buf;
	/* A huge count from a small, valid buffer. */
	CHECK(sys(SYS_read, null, b, 1l << 47, 0, 0) == -EFAULT);
	CHECK(sys(SYS_read, zero, b, -1l, 0, 0) == -EFAULT);
	CHECK(sys(SYS_write, null, b, 1l << 47, 0, 0) == -EFAULT);
	CHECK(sys(SYS_pread64, zero, b, 1l << 47, 0, 0) == -EFAULT);
	CHECK(sys(SYS_pwrite64, null, b, 1l << 47, 0, 0) == -EFAULT);
	/* A kernel address, even for 0 bytes. */
	CHECK(sys(SYS_read, null, KERNEL, 0, 0, 0) == -EFAULT);
	CHECK(sys(SYS_write, null, KERNEL, 0, 0, 0) == -EFAULT);
	CHECK(sys(SYS_write, null, NONCANONICAL, 1, 0, 0) == -EFAULT);
	/* The page below the top is the last one a range may reach. */
	CHECK(sys(SYS_read, null, TOP - 4096, 4096, 0, 0) == 0);
	CHECK(sys(SYS_read, null, TOP - 4096, 4097, 0, 0) == -EFAULT);
	CHECK(sys(SYS_read, null, TOP, 0, 0, 0) == 0);
	CHECK(sys(SYS_read, null, TOP, 1, 0, 0) == -EFAULT);
	/* A negative offset is EINVAL before the buffer is looked at. */
	CHECK(sys(SYS_pread64, zero, KERNEL, 8, -1, 0) == -EINVAL);
	CHECK(sys(SYS_pwrite64, null, KERNEL, 8, -1, 0) == -EINVAL);
	/* A 0-byte read from a low unmapped address is fine. */
	CHECK(sys(SYS_read, null, 0x10, 0, 0, 0) == 0);
	close(null);
	close(zero);

	/* A file: nothing written, nothing read, the offset unmoved. */
	unlink(path);
	int fd = open(path, O_RDWR | O_CREAT | O_EXCL, 0600);
	CHECK(fd >= 0);
	CHECK(write(fd, "abcdef", 6) == 6);
	CHECK(lseek(fd, 2, SEEK_SET) == 2);
	CHECK(sys(SYS_write, fd, b, 1l << 46, 0, 0) == -EFAULT);
	CHECK(sys(SYS_read, fd, b, 1l << 46, 0, 0) == -EFAULT);
	CHECK(sys(SYS_pwrite64, fd, b, -1l, 0, 0) == -EFAULT);
	CHECK(lseek(fd, 0, SEEK_CUR) == 2);
	struct stat st;
	CHECK(fstat(fd, &st) == 0 && st.st_size == 6);
	CHECK(read(fd, buf, sizeof buf) == 4 && memcmp(buf, "cdef", 4) == 0);
	close(fd);
	CHECK(unlink(path) == 0);
}

/* Whether any child is left to wait for (a refused clone made none). */
static int no_child(void)
{
	return waitpid(-1, 0, WNOHANG) == -1 && errno == ECHILD;
}

static void settls_outside_user_space(void)
{
	unsigned long bad[] = {NONCANONICAL, KERNEL, ~0ul, TOP + 4096};
	for (unsigned i = 0; i < sizeof bad / sizeof *bad; i++) {
		long v = sys(SYS_clone, SIGCHLD | CLONE_SETTLS, 0, 0, 0, bad[i]);
		if (v == 0)
			_exit(0);
		CHECK(v == -EPERM);
		CHECK(no_child());

		struct {
			uint64_t flags, pidfd, child_tid, parent_tid;
			uint64_t exit_signal, stack, stack_size, tls;
		} args = {0};
		args.flags = CLONE_SETTLS;
		args.exit_signal = SIGCHLD;
		args.tls = bad[i];
		v = sys(SYS_clone3, (long)&args, sizeof args, 0, 0, 0);
		if (v == 0)
			_exit(0);
		CHECK(v == -EPERM);
		CHECK(no_child());
	}
	/* A user address is fine: the child runs and exits. Its TLS is a
	 * copy of this thread's block (the stack protector's canary is
	 * read through it). */
	static unsigned long tls_area[8];
	unsigned long fs = 0;
	CHECK(syscall(SYS_arch_prctl, 0x1003 /* ARCH_GET_FS */, &fs) == 0);
	memcpy(tls_area, (void *)fs, sizeof tls_area);
	long v = sys(SYS_clone, SIGCHLD | CLONE_SETTLS, 0, 0, 0, (long)tls_area);
	if (v == 0)
		syscall(SYS_exit, 7);
	CHECK(v > 0);
	int status = 0;
	CHECK(waitpid(v, &status, 0) == v);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 7);
}

int main(void)
{
	io_past_user_space();
	settls_outside_user_space();
	return check_report();
}
