/*
 * /test/c_vmas: the number of mappings is bounded (issue 13 item 4: no
 * system call can exhaust the kernel heap). As uid 65534, a child maps
 * one page every other page with MAP_FIXED until mmap fails: it must
 * fail with ENOMEM after at most 65530 mappings (Linux's default
 * vm.max_map_count; Tine's MAX_VMAS), not take the kernel down. Cutting
 * a hole in the middle of a mapping at the limit is ENOMEM too (the split
 * would add one). After unmapping everything in one call, mapping works
 * again. Exits 0 when every check holds; runs unchanged on Linux (as
 * root, so it can drop to uid 65534).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *me = "c_vmas";
#include "check.h"

#define BASE 0x200000000000UL
#define PAGE 4096UL
#define MAX_MAP_COUNT 65530

static void child(void)
{
	if (setgid(65534) != 0 || setuid(65534) != 0)
		printf("c_vmas: cannot drop to uid 65534 (errno %d)\n", errno);
	long n = 0;
	int err = 0;
	for (;; n++) {
		void *want = (void *)(BASE + (uintptr_t)n * 2 * PAGE);
		void *p = mmap(want, PAGE, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
		if (p == MAP_FAILED) {
			err = errno;
			break;
		}
		if (n > MAX_MAP_COUNT + 10)
			break;
	}
	printf("c_vmas: %ld mappings made, then errno %d\n", n, err);
	CHECK(err == ENOMEM);
	CHECK(n > 1000 && n <= MAX_MAP_COUNT);
	/* A three-page mapping made room for by unmapping the first page:
	 * cutting its middle page out would need one mapping more. */
	CHECK(munmap((void *)BASE, PAGE) == 0);
	uintptr_t big = BASE + (uintptr_t)(n + 2) * 2 * PAGE;
	CHECK(mmap((void *)big, 3 * PAGE, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) ==
	      (void *)big);
	errno = 0;
	CHECK(munmap((void *)(big + PAGE), PAGE) == -1 && errno == ENOMEM);
	/* Everything goes in one call; then mapping works again. */
	CHECK(munmap((void *)BASE, (size_t)(n + 4) * 2 * PAGE) == 0);
	void *again = mmap(NULL, PAGE, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(again != MAP_FAILED);
	printf("c_vmas: %d checks, %d failures\n", checks, failures);
	fflush(stdout);
	_exit(failures != 0);
}

int main(void)
{
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0)
		child();
	int status = 0;
	CHECK(pid > 0 && waitpid(pid, &status, 0) == pid);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	return failures != 0;
}
