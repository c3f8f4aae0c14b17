/*
 * c_fastcalls: the system calls Tine runs from its trap loop without the
 * thread's loop top (kernel/src/syscall/fast.rs) keep their semantics:
 * a signal that rt_sigprocmask lets through is delivered on the return
 * from that very call (sent to the thread or to the process), an ignored
 * one is discarded, bad pointers are EFAULT with nothing changed (the
 * old-set pointer after the change, as on Linux), bad sizes and `how`
 * EINVAL, SIGKILL/SIGSTOP never blocked; a signal another process sends
 * while the caller loops on such calls is delivered; getppid, the ids,
 * uname, arch_prctl and the limits answer as before.
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

/* arch_prctl's GET_FS (<asm/prctl.h>, which musl-gcc lacks). */
#define ARCH_GET_FS 0x1003

static const char *me = "c_fastcalls";
#include "check.h"

/* An address no program maps. */
#define BAD ((void *)16)

static volatile sig_atomic_t hits;

static void on_usr1(int sig)
{
	(void)sig;
	hits++;
}

static long mask(int how, const uint64_t *set, uint64_t *old)
{
	return syscall(SYS_rt_sigprocmask, how, set, old, 8);
}

static uint64_t bit(int sig)
{
	return 1ULL << (sig - 1);
}

static uint64_t current_mask(void)
{
	uint64_t now = 0;

	mask(SIG_BLOCK, 0, &now);
	return now;
}

/* A pending signal the mask lets through runs its handler before the
 * unblocking call returns: `hits` is read right after it, no other call
 * in between. */
static void unblock_delivers(void)
{
	struct sigaction sa = { .sa_handler = on_usr1 };
	uint64_t usr1 = bit(SIGUSR1), old;

	CHECK(sigaction(SIGUSR1, &sa, 0) == 0);
	hits = 0;
	CHECK(mask(SIG_BLOCK, &usr1, &old) == 0);
	/* Sent to the thread (tgkill). */
	CHECK(syscall(SYS_tgkill, getpid(), gettid(), SIGUSR1) == 0);
	CHECK(hits == 0);
	CHECK(mask(SIG_UNBLOCK, &usr1, 0) == 0 && hits == 1);
	/* Sent to the process (kept for it while every thread blocks it). */
	CHECK(mask(SIG_BLOCK, &usr1, 0) == 0);
	CHECK(kill(getpid(), SIGUSR1) == 0);
	CHECK(hits == 1);
	CHECK(mask(SIG_SETMASK, &old, 0) == 0 && hits == 2);
	/* Blocking it again with nothing pending delivers nothing. */
	CHECK(mask(SIG_BLOCK, &usr1, 0) == 0 && mask(SIG_UNBLOCK, &usr1, 0) == 0);
	CHECK(hits == 2);
	/* Raised while unblocked: at once. */
	CHECK(raise(SIGUSR1) == 0 && hits == 3);
}

/* A blocked pending signal whose default is to ignore it is discarded
 * when unblocked. */
static void unblock_discards_ignored(void)
{
	uint64_t urg = bit(SIGURG), pending = 0;

	CHECK(mask(SIG_BLOCK, &urg, 0) == 0);
	CHECK(raise(SIGURG) == 0);
	CHECK(syscall(SYS_rt_sigpending, &pending, 8) == 0 && (pending & urg));
	CHECK(mask(SIG_UNBLOCK, &urg, 0) == 0);
	pending = ~0ULL;
	CHECK(syscall(SYS_rt_sigpending, &pending, 8) == 0 && !(pending & urg));
}

static void bad_arguments(void)
{
	uint64_t before = current_mask(), usr2 = bit(SIGUSR2), all = ~0ULL;

	/* A bad set: EFAULT, the mask unchanged. */
	errno = 0;
	CHECK(mask(SIG_BLOCK, BAD, 0) == -1 && errno == EFAULT);
	CHECK(current_mask() == before);
	/* A bad old set: EFAULT after the change (Linux's order). */
	errno = 0;
	CHECK(mask(SIG_BLOCK, &usr2, BAD) == -1 && errno == EFAULT);
	CHECK(current_mask() == (before | usr2));
	CHECK(mask(SIG_SETMASK, &before, 0) == 0 && current_mask() == before);
	/* A bad size or `how`. */
	errno = 0;
	CHECK(syscall(SYS_rt_sigprocmask, SIG_BLOCK, &usr2, 0, 4) == -1 && errno == EINVAL);
	errno = 0;
	CHECK(mask(7, &usr2, 0) == -1 && errno == EINVAL);
	CHECK(current_mask() == before);
	/* SIGKILL and SIGSTOP stay out of the mask. */
	CHECK(mask(SIG_SETMASK, &all, 0) == 0);
	CHECK(!(current_mask() & (bit(SIGKILL) | bit(SIGSTOP))));
	CHECK(mask(SIG_SETMASK, &before, 0) == 0);
	/* The other calls' pointers. */
	errno = 0;
	CHECK(syscall(SYS_uname, BAD) == -1 && errno == EFAULT);
	errno = 0;
	CHECK(syscall(SYS_arch_prctl, ARCH_GET_FS, BAD) == -1 && errno == EFAULT);
	errno = 0;
	CHECK(syscall(SYS_rt_sigaction, SIGUSR1, BAD, 0, 8) == -1 && errno == EFAULT);
	errno = 0;
	CHECK(syscall(SYS_getrlimit, RLIMIT_NOFILE, BAD) == -1 && errno == EFAULT);
	errno = 0;
	CHECK(syscall(SYS_rt_sigpending, BAD, 8) == -1 && errno == EFAULT);
}

static void answers(void)
{
	struct utsname u;
	struct rlimit r;
	unsigned long fs = 0;
	int fd[2];
	pid_t parent = getpid(), child;
	int status = 0;

	CHECK(uname(&u) == 0 && strcmp(u.machine, "x86_64") == 0);
	CHECK(syscall(SYS_arch_prctl, ARCH_GET_FS, &fs) == 0 && fs != 0);
	CHECK(getrlimit(RLIMIT_NOFILE, &r) == 0 && r.rlim_cur > 0);
	CHECK(getuid() == geteuid() && getgid() == getegid());
	CHECK(pipe(fd) == 0);
	child = fork();
	if (child == 0) {
		char ok = syscall(SYS_getppid) == parent;

		_exit(write(fd[1], &ok, 1) == 1 ? 0 : 1);
	}
	char ok = 0;
	CHECK(read(fd[0], &ok, 1) == 1 && ok == 1);
	CHECK(waitpid(child, &status, 0) == child && WIFEXITED(status));
	close(fd[0]);
	close(fd[1]);
}

/* A signal another process sends while this one loops on calls the trap
 * loop runs inline still gets delivered (bounded: a few seconds' worth). */
static void delivered_while_looping(void)
{
	struct sigaction sa = { .sa_handler = on_usr1 };
	pid_t parent = getpid(), child;
	uint64_t usr1 = bit(SIGUSR1), old;
	long n;

	CHECK(sigaction(SIGUSR1, &sa, 0) == 0);
	hits = 0;
	child = fork();
	if (child == 0) {
		kill(parent, SIGUSR1);
		_exit(0);
	}
	for (n = 0; n < 20000000 && hits == 0; n++) {
		syscall(SYS_getppid);
		mask(SIG_BLOCK, 0, &old);
	}
	CHECK(hits == 1);
	CHECK(waitpid(child, 0, 0) == child);
	/* The same with the signal blocked until a mask change lets it in. */
	hits = 0;
	CHECK(mask(SIG_BLOCK, &usr1, &old) == 0);
	child = fork();
	if (child == 0) {
		kill(parent, SIGUSR1);
		_exit(0);
	}
	CHECK(waitpid(child, 0, 0) == child);
	CHECK(hits == 0);
	CHECK(mask(SIG_SETMASK, &old, 0) == 0 && hits == 1);
}

int main(void)
{
	unblock_delivers();
	unblock_discards_ignored();
	bad_arguments();
	answers();
	delivered_while_looping();
	return check_report();
}
