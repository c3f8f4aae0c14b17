/*
 * /test/c_oom: memory exhaustion (issue 13 item 5). A forked child maps
 * twice the machine's memory (RAM and swap) and touches it page by page;
 * when no frame is left the kernel kills it with SIGKILL (Tine prints
 * "out of memory: killed NAME[PID] (N pages resident)" on the console;
 * Linux's OOM killer does the same). The parent, blocked in waitpid,
 * lives on, sees WIFSIGNALED with SIGKILL, and checks that the free
 * memory came back (within 1/32 of RAM) and that fork and wait still
 * work. Also: an mmap longer than the address space is ENOMEM. Exits 0
 * when every check holds; runs unchanged on Linux (in a VM: it really
 * does use up all memory).
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

/* The child: touch `len` bytes of fresh anonymous memory. */
static void hog(size_t len)
{
	volatile char *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
				MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
				-1, 0);
	if (p == MAP_FAILED)
		_exit(2);
	for (size_t off = 0; off < len; off += 4096)
		p[off] = 1;
	/* Touched more than the machine has and still alive: wrong. */
	_exit(3);
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
	unsigned long long slack = ram / 32, after = 0;
	for (int i = 0; i < 50; i++) {
		after = free_bytes();
		if (after + slack >= before)
			break;
		struct timespec ts = {0, 20 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
	CHECK(after + slack >= before);
	printf("c_oom: %llu KiB free before, %llu KiB after the kill\n",
	       before / 1024, after / 1024);

	/* The machine still forks and waits. */
	pid = fork();
	if (pid == 0)
		_exit(7);
	CHECK(pid > 0 && waitpid(pid, &status, 0) == pid &&
	      WIFEXITED(status) && WEXITSTATUS(status) == 7);

	printf("c_oom: %d checks, %d failures\n", checks, failures);
	return failures != 0;
}
