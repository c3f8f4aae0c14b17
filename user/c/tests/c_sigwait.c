/*
 * /test/c_sigwait: rt_sigtimedwait through musl (sigwaitinfo,
 * sigtimedwait, sigwait) and the raw call: a pending blocked signal is
 * taken with its siginfo (tkill, kill, a child's exit), a signal sent
 * while waiting ends the wait (from another thread, to the process or to
 * the thread), a blocked SIGCHLD (ignored by default) is not discarded
 * while waited for, a zero or expired timeout is EAGAIN, a caught signal
 * outside the set is EINTR after its handler, and the errors (EINVAL for
 * the size and a bad timespec, EFAULT for set, timeout and info: the
 * signal is taken nonetheless). Also: a process signal handed to a
 * thread that then blocks it reaches a thread that does not. Exits 0 when
 * every check holds; each failure is printed. Runs unchanged on Linux.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char *me = "c_sigwait";
#include "check.h"

#define BAD ((void *)16)

static pid_t gettid_(void)
{
	return (pid_t)syscall(SYS_gettid);
}

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

static long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static sigset_t just(int sig)
{
	sigset_t s;
	sigemptyset(&s);
	sigaddset(&s, sig);
	return s;
}

static long raw(const void *set, void *info, const void *ts, long size)
{
	return syscall(SYS_rt_sigtimedwait, set, info, ts, size);
}

static atomic_int handled;

static void count(int sig)
{
	(void)sig;
	atomic_fetch_add(&handled, 1);
}

static void pending_signals_are_taken(void)
{
	sigset_t usr1 = just(SIGUSR1), both = just(SIGUSR1);
	sigaddset(&both, SIGUSR2);
	CHECK(sigprocmask(SIG_BLOCK, &both, NULL) == 0);

	/* raise is tkill: SI_TKILL, with the sender. */
	CHECK(raise(SIGUSR1) == 0);
	siginfo_t si;
	memset(&si, 0, sizeof si);
	CHECK(sigwaitinfo(&usr1, &si) == SIGUSR1);
	CHECK(si.si_signo == SIGUSR1 && si.si_code == SI_TKILL);
	CHECK(si.si_pid == getpid());

	/* kill is SI_USER; the lowest pending signal of the set first. */
	CHECK(kill(getpid(), SIGUSR2) == 0);
	CHECK(kill(getpid(), SIGUSR1) == 0);
	memset(&si, 0, sizeof si);
	CHECK(sigwaitinfo(&both, &si) == SIGUSR1 && si.si_code == SI_USER);
	int sig = 0;
	CHECK(sigwait(&both, &sig) == 0 && sig == SIGUSR2);

	/* A pending signal outside the set stays pending. */
	CHECK(raise(SIGUSR2) == 0);
	struct timespec zero = {0, 0};
	CHECK(sigtimedwait(&usr1, NULL, &zero) == -1 && errno == EAGAIN);
	sigset_t pending;
	CHECK(sigpending(&pending) == 0 && sigismember(&pending, SIGUSR2));
	CHECK(sigtimedwait(&both, NULL, &zero) == SIGUSR2);
	CHECK(sigpending(&pending) == 0 && !sigismember(&pending, SIGUSR2));
	CHECK(sigprocmask(SIG_UNBLOCK, &both, NULL) == 0);
}

static void timeouts(void)
{
	sigset_t usr1 = just(SIGUSR1);
	CHECK(sigprocmask(SIG_BLOCK, &usr1, NULL) == 0);
	struct timespec zero = {0, 0}, short_wait = {0, 50 * 1000000L};
	CHECK(sigtimedwait(&usr1, NULL, &zero) == -1 && errno == EAGAIN);
	long t0 = now_ms();
	CHECK(sigtimedwait(&usr1, NULL, &short_wait) == -1 && errno == EAGAIN);
	CHECK(now_ms() - t0 >= 40);
	/* An unblocked signal of the set is waited for too. */
	CHECK(sigprocmask(SIG_UNBLOCK, &usr1, NULL) == 0);
	CHECK(sigtimedwait(&usr1, NULL, &short_wait) == -1 && errno == EAGAIN);
}

/* ---- a signal sent while the caller waits ---- */

static atomic_int sender_mode;
static pid_t waiter_tid;

static void *sender(void *arg)
{
	(void)arg;
	sleep_ms(30);
	switch (atomic_load(&sender_mode)) {
	case 0:
		kill(getpid(), SIGUSR1);
		break;
	case 1:
		syscall(SYS_tgkill, getpid(), waiter_tid, SIGUSR1);
		break;
	case 2:
		kill(getpid(), SIGUSR2);
		break;
	}
	return NULL;
}

static void signal_sent_while_waiting(void)
{
	sigset_t usr1 = just(SIGUSR1);
	/* Blocked here, so in the sender thread too. */
	CHECK(sigprocmask(SIG_BLOCK, &usr1, NULL) == 0);
	waiter_tid = gettid_();
	for (int mode = 0; mode < 2; mode++) {
		atomic_store(&sender_mode, mode);
		pthread_t t;
		CHECK(pthread_create(&t, NULL, sender, NULL) == 0);
		siginfo_t si;
		memset(&si, 0, sizeof si);
		CHECK(sigwaitinfo(&usr1, &si) == SIGUSR1);
		CHECK(si.si_code == (mode == 0 ? SI_USER : SI_TKILL));
		CHECK(si.si_pid == getpid());
		pthread_join(t, NULL);
	}

	/* A caught signal outside the set: EINTR once its handler ran
	 * (the raw call: musl's sigtimedwait retries after EINTR). */
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = count;
	CHECK(sigaction(SIGUSR2, &sa, NULL) == 0);
	sigset_t usr2 = just(SIGUSR2);
	CHECK(sigprocmask(SIG_BLOCK, &usr2, NULL) == 0);
	atomic_store(&sender_mode, 2);
	pthread_t t;
	CHECK(pthread_create(&t, NULL, sender, NULL) == 0);
	CHECK(sigprocmask(SIG_UNBLOCK, &usr2, NULL) == 0);
	atomic_store(&handled, 0);
	struct timespec long_wait = {10, 0};
	CHECK(raw(&usr1, NULL, &long_wait, 8) == -1 && errno == EINTR);
	CHECK(atomic_load(&handled) == 1);
	pthread_join(t, NULL);
	sa.sa_handler = SIG_DFL;
	CHECK(sigaction(SIGUSR2, &sa, NULL) == 0);
	CHECK(sigprocmask(SIG_UNBLOCK, &usr1, NULL) == 0);
}

/* ---- SIGCHLD, ignored by default, is kept for the waiter ---- */

static void sigchld_is_waited_for(void)
{
	sigset_t chld = just(SIGCHLD);
	CHECK(sigprocmask(SIG_BLOCK, &chld, NULL) == 0);
	for (int delay = 0; delay < 2; delay++) {
		pid_t pid = fork();
		if (pid == 0) {
			if (delay)
				sleep_ms(30);
			_exit(7);
		}
		CHECK(pid > 0);
		if (!delay)
			CHECK(waitid(P_PID, pid, NULL, WEXITED | WNOWAIT) == 0);
		siginfo_t si;
		memset(&si, 0, sizeof si);
		struct timespec long_wait = {10, 0};
		CHECK(sigtimedwait(&chld, &si, &long_wait) == SIGCHLD);
		CHECK(si.si_code == CLD_EXITED && si.si_pid == pid);
		CHECK(si.si_status == 7);
		int status;
		CHECK(waitpid(pid, &status, 0) == pid);
	}
	CHECK(sigprocmask(SIG_UNBLOCK, &chld, NULL) == 0);
}

/* ---- errors ---- */

static void errors(void)
{
	sigset_t usr1 = just(SIGUSR1);
	struct timespec zero = {0, 0};
	CHECK(raw(&usr1, NULL, &zero, 4) == -1 && errno == EINVAL);
	CHECK(raw(&usr1, NULL, &zero, 16) == -1 && errno == EINVAL);
	CHECK(raw(BAD, NULL, &zero, 8) == -1 && errno == EFAULT);
	CHECK(raw(&usr1, NULL, BAD, 8) == -1 && errno == EFAULT);
	struct timespec bad_ns = {0, 1000000000L}, neg = {-1, 0};
	CHECK(raw(&usr1, NULL, &bad_ns, 8) == -1 && errno == EINVAL);
	CHECK(raw(&usr1, NULL, &neg, 8) == -1 && errno == EINVAL);
	/* A bad info: EFAULT, and the signal is gone all the same. */
	CHECK(sigprocmask(SIG_BLOCK, &usr1, NULL) == 0);
	CHECK(raise(SIGUSR1) == 0);
	CHECK(raw(&usr1, BAD, &zero, 8) == -1 && errno == EFAULT);
	sigset_t pending;
	CHECK(sigpending(&pending) == 0 && !sigismember(&pending, SIGUSR1));
	/* SIGKILL and SIGSTOP are never waited for: an empty set waits. */
	sigset_t killstop;
	sigemptyset(&killstop);
	sigaddset(&killstop, SIGKILL);
	sigaddset(&killstop, SIGSTOP);
	CHECK(raw(&killstop, NULL, &zero, 8) == -1 && errno == EAGAIN);
	CHECK(sigprocmask(SIG_UNBLOCK, &usr1, NULL) == 0);
}

/* ---- a process signal goes back when its thread blocks it ---- */

static atomic_int handled_by;
static atomic_int go, ready;

static void record(int sig)
{
	(void)sig;
	atomic_store(&handled_by, gettid_());
	atomic_fetch_add(&handled, 1);
}

/* Unblocks SIGUSR1, spins without a system call until told to, then
 * blocks it: a process SIGUSR1 sent meanwhile may have been handed to it. */
static void *spin_then_block(void *arg)
{
	(void)arg;
	sigset_t usr1 = just(SIGUSR1);
	pthread_sigmask(SIG_UNBLOCK, &usr1, NULL);
	atomic_store(&ready, 1);
	while (!atomic_load(&go))
		;
	pthread_sigmask(SIG_BLOCK, &usr1, NULL);
	atomic_store(&ready, 2);
	return NULL;
}

static atomic_int taker_tid, stop_taker;

static void *taker(void *arg)
{
	(void)arg;
	atomic_store(&taker_tid, gettid_());
	sigset_t none;
	sigemptyset(&none);
	while (!atomic_load(&stop_taker)) {
		struct timespec ts = {0, 2000000L};
		pthread_sigmask(SIG_SETMASK, &none, NULL);
		nanosleep(&ts, NULL);
	}
	return NULL;
}

static void process_signal_goes_back(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = record;
	CHECK(sigaction(SIGUSR1, &sa, NULL) == 0);
	sigset_t usr1 = just(SIGUSR1);
	CHECK(sigprocmask(SIG_BLOCK, &usr1, NULL) == 0);
	for (int round = 0; round < 20; round++) {
		atomic_store(&handled, 0);
		atomic_store(&handled_by, 0);
		atomic_store(&go, 0);
		atomic_store(&ready, 0);
		atomic_store(&stop_taker, 0);
		atomic_store(&taker_tid, 0);
		pthread_t a, b;
		/* The taker is created second: the spinning thread comes
		 * first in the list a process signal is handed out from. */
		CHECK(pthread_create(&a, NULL, spin_then_block, NULL) == 0);
		while (atomic_load(&ready) != 1)
			sleep_ms(1);
		CHECK(pthread_create(&b, NULL, taker, NULL) == 0);
		while (atomic_load(&taker_tid) == 0)
			sleep_ms(1);
		CHECK(kill(getpid(), SIGUSR1) == 0);
		atomic_store(&go, 1);
		pthread_join(a, NULL);
		/* Taken once, by either thread; never stuck with the thread
		 * that blocks it. */
		for (int i = 0; i < 5000 && atomic_load(&handled) == 0; i++)
			sleep_ms(1);
		CHECK(atomic_load(&handled) == 1);
		atomic_store(&stop_taker, 1);
		pthread_join(b, NULL);
	}
	sa.sa_handler = SIG_DFL;
	CHECK(sigaction(SIGUSR1, &sa, NULL) == 0);
	CHECK(sigprocmask(SIG_UNBLOCK, &usr1, NULL) == 0);
}

int main(void)
{
	pending_signals_are_taken();
	timeouts();
	signal_sent_while_waiting();
	sigchld_is_waited_for();
	errors();
	process_signal_goes_back();
	return check_report();
}
