/*
 * /test/c_stdio: musl's startup (TLS through arch_prctl, set_tid_address)
 * and libc services over Tine's system calls: printf and snprintf
 * (integers, strings, hex, floating point), malloc/free (brk and mmap),
 * clock_gettime/gettimeofday/nanosleep, getrandom, uname, getrlimit and
 * setrlimit, getuid and friends, sysinfo. Exits 0 when every check holds;
 * each failure is printed. Runs unchanged on Linux.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/sysinfo.h>
#include <sys/time.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

static int failures, checks;

#define CHECK(cond)                                                       \
	do {                                                              \
		checks++;                                                 \
		if (!(cond)) {                                            \
			printf("c_stdio: FAILED: %s (line %d)\n", #cond,  \
			       __LINE__);                                 \
			failures++;                                       \
		}                                                         \
	} while (0)

static long long ns(struct timespec t)
{
	return t.tv_sec * 1000000000LL + t.tv_nsec;
}

int main(void)
{
	char buf[128];
	int n = snprintf(buf, sizeof buf, "%d %s %#x %.2f %5.1e", -42, "tine",
			 255, 3.14159, 12345.0);
	CHECK(strcmp(buf, "-42 tine 0xff 3.14 1.2e+04") == 0);
	CHECK(n == (int)strlen(buf));
	CHECK(printf("hello from musl printf: %s\n", buf) > 0);
	CHECK(fflush(stdout) == 0);

	/* malloc: small (brk) and large (mmap) blocks. */
	char *small = malloc(100);
	char *large = malloc(1 << 20);
	CHECK(small != NULL && large != NULL);
	if (small && large) {
		memset(small, 'a', 100);
		memset(large, 'b', 1 << 20);
		CHECK(small[99] == 'a' && large[(1 << 20) - 1] == 'b');
	}
	free(large);
	free(small);

	struct timespec a, b, res;
	CHECK(clock_gettime(CLOCK_MONOTONIC, &a) == 0);
	struct timespec nap = {0, 10 * 1000 * 1000};
	CHECK(nanosleep(&nap, NULL) == 0);
	CHECK(clock_gettime(CLOCK_MONOTONIC, &b) == 0);
	CHECK(ns(b) - ns(a) >= 10 * 1000 * 1000);
	CHECK(clock_getres(CLOCK_REALTIME, &res) == 0 && res.tv_nsec > 0);
	CHECK(clock_gettime(CLOCK_REALTIME, &a) == 0 && a.tv_sec > 1700000000);
	errno = 0;
	CHECK(clock_gettime((clockid_t)42, &a) == -1 && errno == EINVAL);
	struct timeval tv;
	CHECK(gettimeofday(&tv, NULL) == 0 && tv.tv_sec > 1700000000);
	CHECK(time(NULL) > 1700000000);

	unsigned char r1[32], r2[32];
	CHECK(getrandom(r1, sizeof r1, 0) == sizeof r1);
	CHECK(getrandom(r2, sizeof r2, GRND_NONBLOCK) == sizeof r2);
	CHECK(memcmp(r1, r2, sizeof r1) != 0);

	struct utsname u;
	CHECK(uname(&u) == 0);
	printf("c_stdio: uname %s %s %s\n", u.sysname, u.release, u.machine);
	CHECK(strcmp(u.machine, "x86_64") == 0);

	struct rlimit rl;
	CHECK(getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur <= rl.rlim_max);
	struct rlimit lower = {rl.rlim_cur / 2, rl.rlim_max};
	CHECK(setrlimit(RLIMIT_NOFILE, &lower) == 0);
	CHECK(getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur == lower.rlim_cur);
	struct rlimit bad = {10, 5};
	errno = 0;
	CHECK(setrlimit(RLIMIT_NOFILE, &bad) == -1 && errno == EINVAL);
	CHECK(getrlimit(RLIMIT_STACK, &rl) == 0 && rl.rlim_cur > 0);

	CHECK(getuid() == geteuid() && getgid() == getegid());
	CHECK(sysconf(_SC_PAGESIZE) == 4096);
	struct sysinfo si;
	CHECK(sysinfo(&si) == 0 && si.totalram >= si.freeram && si.procs >= 1);

	if (failures == 0)
		printf("c_stdio: ok (%d checks)\n", checks);
	else
		printf("c_stdio: %d of %d checks failed\n", failures, checks);
	return failures != 0;
}
