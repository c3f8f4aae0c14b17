/*
 * /test/c_oom: memory exhaustion (issue 13 item 5). A forked child maps
 * twice the machine's memory (RAM and swap) and touches it page by page;
 * when no frame is left the kernel kills it with SIGKILL (Tine prints
 * "out of memory: killed NAME[PID] (N pages resident)" on the console;
 * Linux's OOM killer does the same). The parent, blocked in waitpid,
 * lives on, sees WIFSIGNALED with SIGKILL, and checks that the free
 * memory came back (within 1/32 of RAM) and that fork and wait still
 * work. Also: an mmap longer than the address space is ENOMEM.
 *
 * The killer picks the largest process, not the one whose fault found no
 * frame: a child holds 60% of the free memory and blocks; a second child
 * then touches another 60%. The first (larger) one is killed with SIGKILL,
 * the second gets its memory and exits 0 (Tine's console line names the
 * first as killed, "in" the second; Linux's OOM killer chooses by resident
 * set the same way).
 *
 * Exits 0 when every check holds; runs unchanged on Linux (in a VM: it
 * really does use up all memory).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/sysinfo.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char *me = "c_oom";
#include "check.h"

static unsigned long long free_bytes(void)
{
	struct sysinfo si;
	if (sysinfo(&si) != 0)
		return 0;
	return (unsigned long long)si.freeram * si.mem_unit;
}

/* Touches `len` bytes of fresh anonymous memory (exits 2 if it cannot
 * map them). */
static void touch(size_t len)
{
	volatile char *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
				MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
				-1, 0);
	if (p == MAP_FAILED)
		_exit(2);
	for (size_t off = 0; off < len; off += 4096)
		p[off] = 1;
}

/* The child: touch `len` bytes, more than the machine has. */
static void hog(size_t len)
{
	touch(len);
	/* Touched more than the machine has and still alive: wrong. */
	_exit(3);
}

/* Waits until free memory is back within `slack` of `before`; returns
 * what is free then. */
static unsigned long long await_free(unsigned long long before,
				     unsigned long long slack)
{
	unsigned long long after = 0;
	for (int i = 0; i < 50; i++) {
		after = free_bytes();
		if (after + slack >= before)
			break;
		struct timespec ts = {0, 20 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
	return after;
}

/* The largest process is killed, not the one whose fault found no frame
 * (file comment). */
static void largest_goes(unsigned long long slack)
{
	unsigned long long before = free_bytes();
	size_t part = (size_t)(before / 10 * 6) & ~(size_t)4095;
	int ready[2];
	CHECK(pipe(ready) == 0);
	fflush(stdout);
	pid_t big = fork();
	if (big == 0) {
		close(ready[0]);
		touch(part);
		if (write(ready[1], "r", 1) != 1)
			_exit(5);
		for (;;)
			pause();
	}
	CHECK(big > 0);
	close(ready[1]);
	char c;
	CHECK(read(ready[0], &c, 1) == 1);
	close(ready[0]);
	pid_t small = fork();
	if (small == 0) {
		touch(part);
		_exit(0);
	}
	CHECK(small > 0);
	int status = 0;
	CHECK(waitpid(small, &status, 0) == small);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		printf("c_oom: the faulting child ended with status %#x\n", status);
	CHECK(waitpid(big, &status, 0) == big);
	CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	if (!WIFSIGNALED(status))
		printf("c_oom: the largest child ended with status %#x\n", status);
	unsigned long long after = await_free(before, slack);
	CHECK(after + slack >= before);
	printf("c_oom: the largest (%d) was killed, %d got its memory; "
	       "%llu KiB free before, %llu KiB after\n",
	       (int)big, (int)small, before / 1024, after / 1024);
}

int main(void)
{
	struct sysinfo si;
	CHECK(sysinfo(&si) == 0);
	unsigned long long ram = (unsigned long long)si.totalram * si.mem_unit;
	unsigned long long swap = (unsigned long long)si.totalswap * si.mem_unit;
	size_t len = (size_t)(2 * (ram + swap));
	CHECK(ram > 0);

	/* No address space that long: ENOMEM, nothing mapped. */
	errno = 0;
	void *huge = mmap(NULL, (size_t)1 << 47, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	CHECK(huge == MAP_FAILED && errno == ENOMEM);

	unsigned long long before = free_bytes();
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0)
		hog(len);
	CHECK(pid > 0);
	int status = 0;
	CHECK(waitpid(pid, &status, 0) == pid);
	CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	if (!WIFSIGNALED(status))
		printf("c_oom: the child ended with status %#x\n", status);

	/* Its memory comes back (freed frames may take a moment). */
	unsigned long long slack = ram / 32;
	unsigned long long after = await_free(before, slack);
	CHECK(after + slack >= before);
	printf("c_oom: %llu KiB free before, %llu KiB after the kill\n",
	       before / 1024, after / 1024);

	largest_goes(slack);

	/* The machine still forks and waits. */
	pid = fork();
	if (pid == 0)
		_exit(7);
	CHECK(pid > 0 && waitpid(pid, &status, 0) == pid &&
	      WIFEXITED(status) && WEXITSTATUS(status) == 7);

	printf("c_oom: %d checks, %d failures\n", checks, failures);
	return failures != 0;
}
