/*
 * scale: many live processes at once, created and reaped, timed, with the
 * machine's free memory before, during and after.
 *
 * One static musl binary that runs unchanged on Tine and on Linux, so that
 * `cargo xtask bench` gives every figure its Linux twin from the same QEMU
 * configuration (docs/memory.md, docs/benchmarks.md).
 *
 * Usage: scale [-w SECONDS] [-z SECONDS] [-e] N...
 *   N          for each N in turn: fork N children that block reading a
 *              pipe, then close the pipe and reap them all with wait4(-1)
 *   -w SECONDS hold the N children that long before releasing them (to
 *              look at them with `ps`, `pstree` or `mem` meanwhile)
 *   -z SECONDS after releasing them, let them exit for that long before
 *              reaping: reap_us is then the parent's wait4 loop alone, over
 *              zombies (its time less than with -z 0 is the exits')
 *   -e         a fork failure is expected (memory or the process limit
 *              runs out): report how many were made and reap them, do not
 *              fail
 *
 * Each child is as small as a forked process gets: it is made by the raw
 * fork system call and runs three raw system calls (close, read, exit) without
 * touching memory, so it copies no page of its parent.
 *
 * The limits are raised first: Tine's `kern.maxproc` (its sysctl call),
 * Linux's kernel.pid_max and kernel.threads-max (/proc/sys), and
 * RLIMIT_NPROC. Free memory is sysinfo's freeram (both kernels).
 *
 * Output, one line per N (the contract xtask parses):
 *   SCALE n=N made=M create_us=T reap_us=T free_before_kib=K
 *         free_during_kib=K free_after_kib=K per_proc_bytes=B lost_kib=K
 *         fork_errno=E
 * and on Tine `TINEMEM phase=before|during|after NAME=VALUE...` lines
 * (its meminfo call's breakdown) around it; then `scale done failures=F`. Exit 0 unless something failed.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/sysinfo.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* Tine's sysctl call (name, namelen, old, oldlenp, new, newlen). */
#define TINE_SYSCTL 1005

static int failures;

static long long now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static long long free_kib(void)
{
	struct sysinfo si;
	if (sysinfo(&si) != 0)
		return -1;
	return (long long)si.freeram * si.mem_unit / 1024;
}

/* Tine's meminfo call (docs/memory.md): on Tine, prints its breakdown as
 * one `TINEMEM phase=PHASE ...` line; elsewhere (ENOSYS) nothing. */
#define TINE_MEMINFO 1009
static void tine_mem(const char *phase)
{
	static const char *names[] = { "frames_total", "frames_free",
		"frames_used", "heap_allocated", "heap_allocations",
		"heap_claimed", "processes", "process_bytes", "tasks",
		"task_bytes", "table_pages", "fd_tables", "fd_bytes" };
	unsigned long long v[13];
	long n = syscall(TINE_MEMINFO, v, sizeof v);
	if (n < 0)
		return;
	printf("TINEMEM phase=%s", phase);
	for (long i = 0; i < n / 8 && i < 13; i++)
		printf(" %s=%llu", names[i], v[i]);
	printf("\n");
}

static void write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY);
	if (fd < 0)
		return;
	if (write(fd, text, strlen(text)) < 0)
		fprintf(stderr, "scale: %s: %s\n", path, strerror(errno));
	close(fd);
}

/* Raises every limit on the number of processes (ignoring what the
 * kernel does not have). */
static void raise_limits(void)
{
	static const char name[] = "kern.maxproc";
	static const char value[] = "1000000";
	syscall(TINE_SYSCTL, name, sizeof name - 1, 0, 0, value, sizeof value - 1);
	write_file("/proc/sys/kernel/pid_max", "4194304");
	write_file("/proc/sys/kernel/threads-max", "4000000");
	struct rlimit rl = { RLIM_INFINITY, RLIM_INFINITY };
	setrlimit(RLIMIT_NPROC, &rl);
}

/*
 * fork by the raw system call; the child closes `write_end`, blocks
 * reading `fd` and exits 0
 * at end of file, all in registers: it never returns here and writes no
 * memory. Returns the child's PID, or -errno.
 */
static long fork_blocked_child(int fd, int write_end)
{
	long ret;
	static char sink;
	__asm__ volatile(
		"mov $57, %%eax\n\t" /* fork */
		"syscall\n\t"
		"test %%rax, %%rax\n\t"
		"jnz 2f\n\t"
		"mov $3, %%eax\n\t" /* close(write_end) */
		"mov %k3, %%edi\n\t"
		"syscall\n\t"
		"1:\n\t"
		"mov $0, %%eax\n\t" /* read(fd, &sink, 1) */
		"mov %k1, %%edi\n\t"
		"mov %2, %%rsi\n\t"
		"mov $1, %%edx\n\t"
		"syscall\n\t"
		"cmp $-4, %%rax\n\t" /* EINTR: read again */
		"je 1b\n\t"
		"mov $60, %%eax\n\t" /* exit(0) */
		"xor %%edi, %%edi\n\t"
		"syscall\n\t"
		"ud2\n\t"
		"2:\n\t"
		: "=&a"(ret)
		: "r"((long)fd), "r"(&sink), "r"((long)write_end)
		: "rcx", "r11", "rdi", "rsi", "rdx", "memory");
	return ret;
}

static void one_round(long n, int hold_s, int zombie_s, int expect_failure)
{
	int p[2];
	if (pipe(p) != 0) {
		printf("FAIL pipe: %s\n", strerror(errno));
		failures++;
		return;
	}
	tine_mem("before");
	long long before = free_kib();
	long long t0 = now_us();
	long made = 0;
	int fork_errno = 0;
	for (; made < n; made++) {
		long pid = fork_blocked_child(p[0], p[1]);
		if (pid < 0) {
			fork_errno = (int)-pid;
			break;
		}
	}
	long long t1 = now_us();
	long long during = free_kib();
	tine_mem("during");
	if (fork_errno != 0 && !expect_failure) {
		printf("FAIL fork %ld of %ld: %s\n", made + 1, n,
		       strerror(fork_errno));
		failures++;
	}
	if (hold_s > 0) {
		printf("scale: %ld children alive, holding %d s\n", made, hold_s);
		fflush(stdout);
		sleep(hold_s);
	}
	close(p[1]);
	printf("scale: released\n");
	fflush(stdout);
	if (zombie_s > 0)
		sleep(zombie_s);
	long long t2 = now_us();
	long reaped = 0;
	for (;;) {
		int status;
		pid_t pid = wait4(-1, &status, 0, 0);
		if (pid < 0) {
			if (errno == EINTR)
				continue;
			if (errno != ECHILD) {
				printf("FAIL wait4: %s\n", strerror(errno));
				failures++;
			}
			break;
		}
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
			printf("FAIL child %d: status %#x\n", (int)pid, status);
			failures++;
		}
		reaped++;
	}
	long long t3 = now_us();
	close(p[0]);
	if (reaped != made) {
		printf("FAIL reaped %ld of %ld\n", reaped, made);
		failures++;
	}
	/* What a reaped process leaves to be freed later (Linux's RCU, a
	 * deferred free) gets a moment. */
	usleep(200000);
	long long after = free_kib();
	tine_mem("after");
	long per = made > 0 ? (long)((before - during) * 1024 / made) : 0;
	printf("SCALE n=%ld made=%ld create_us=%lld reap_us=%lld "
	       "free_before_kib=%lld free_during_kib=%lld free_after_kib=%lld "
	       "per_proc_bytes=%ld lost_kib=%lld fork_errno=%d\n",
	       n, made, t1 - t0, t3 - t2, before, during, after, per,
	       before - after, fork_errno);
	fflush(stdout);
}

int main(int argc, char **argv)
{
	int hold_s = 0, zombie_s = 0, expect_failure = 0, opt;
	while ((opt = getopt(argc, argv, "w:z:e")) != -1) {
		switch (opt) {
		case 'w':
			hold_s = atoi(optarg);
			break;
		case 'z':
			zombie_s = atoi(optarg);
			break;
		case 'e':
			expect_failure = 1;
			break;
		default:
			fprintf(stderr, "usage: scale [-w SECONDS] [-z SECONDS] [-e] N...\n");
			return 2;
		}
	}
	raise_limits();
	setvbuf(stdout, 0, _IOLBF, 0);
	printf("scale start\n");
	for (int i = optind; i < argc; i++)
		one_round(atol(argv[i]), hold_s, zombie_s, expect_failure);
	printf("scale done failures=%d\n", failures);
	return failures != 0;
}
