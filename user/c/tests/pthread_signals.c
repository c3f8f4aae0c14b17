/*
 * /test/pthread_signals: signals in a threaded process through musl:
 * pthread_kill reaches the chosen thread, a process signal is taken by the
 * one thread that does not block it, masks and alternate stacks are per
 * thread, cancellation, tgkill's errors, and a thread's fault kills the
 * whole process with the right signal. Exits 0 when every check holds;
 * each failure is printed. Runs unchanged on Linux.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <semaphore.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int failures;

#define CHECK(cond)                                                      \
	do {                                                             \
		if (!(cond)) {                                           \
			printf("pthread_signals: FAILED: %s (line %d)\n", \
			       #cond, __LINE__);                         \
			failures++;                                      \
		}                                                        \
	} while (0)

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

static atomic_int handled_by;
static atomic_int handled_count;

static void record_tid(int sig)
{
	(void)sig;
	atomic_store(&handled_by, gettid_());
	atomic_fetch_add(&handled_count, 1);
}

static void on(int sig, void (*fn)(int))
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = fn;
	CHECK(sigaction(sig, &sa, NULL) == 0);
}

/* ---- pthread_kill to a chosen thread ---- */

enum { N = 4 };
static atomic_int tids[N];
static atomic_int stop_all;

static void *idle_thread(void *arg)
{
	atomic_store(&tids[(uintptr_t)arg], gettid_());
	while (!atomic_load(&stop_all))
		sleep_ms(1);
	return NULL;
}

static void wait_handled(int count)
{
	for (int i = 0; i < 5000 && atomic_load(&handled_count) < count; i++)
		sleep_ms(1);
}

static void pthread_kill_reaches_the_chosen_thread(void)
{
	pthread_t t[N];
	on(SIGUSR1, record_tid);
	atomic_store(&stop_all, 0);
	for (int i = 0; i < N; i++)
		CHECK(pthread_create(&t[i], NULL, idle_thread,
				     (void *)(uintptr_t)i) == 0);
	for (int i = 0; i < N; i++)
		while (atomic_load(&tids[i]) == 0)
			sleep_ms(1);
	for (int round = 0; round < 2; round++) {
		for (int i = N - 1; i >= 0; i--) {
			int before = atomic_load(&handled_count);
			CHECK(pthread_kill(t[i], SIGUSR1) == 0);
			wait_handled(before + 1);
			CHECK(atomic_load(&handled_by) == atomic_load(&tids[i]));
		}
	}
	atomic_store(&stop_all, 1);
	for (int i = 0; i < N; i++)
		pthread_join(t[i], NULL);
}

/* ---- a process signal goes to the thread that does not block it ---- */

static atomic_int taker_tid;

static void *unblocked_thread(void *arg)
{
	(void)arg;
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGUSR2);
	CHECK(pthread_sigmask(SIG_UNBLOCK, &set, NULL) == 0);
	atomic_store(&taker_tid, gettid_());
	while (!atomic_load(&stop_all))
		sleep_ms(1);
	return NULL;
}

static void *blocked_thread(void *arg)
{
	(void)arg;
	while (!atomic_load(&stop_all))
		sleep_ms(1);
	return NULL;
}

static void process_signal_to_the_unblocked_thread(void)
{
	sigset_t set, old;
	on(SIGUSR2, record_tid);
	sigemptyset(&set);
	sigaddset(&set, SIGUSR2);
	/* Blocked here, so in every thread made from now on. */
	CHECK(pthread_sigmask(SIG_BLOCK, &set, &old) == 0);
	atomic_store(&stop_all, 0);
	pthread_t b1, u, b2;
	CHECK(pthread_create(&b1, NULL, blocked_thread, NULL) == 0);
	CHECK(pthread_create(&u, NULL, unblocked_thread, NULL) == 0);
	CHECK(pthread_create(&b2, NULL, blocked_thread, NULL) == 0);
	while (atomic_load(&taker_tid) == 0)
		sleep_ms(1);
	for (int i = 0; i < 3; i++) {
		int before = atomic_load(&handled_count);
		CHECK(kill(getpid(), SIGUSR2) == 0);
		wait_handled(before + 1);
		CHECK(atomic_load(&handled_by) == atomic_load(&taker_tid));
	}
	/* The main thread's mask is its own: SIGUSR2 still blocked here,
	 * and not pending here either (the other thread took it). */
	sigset_t now, pending;
	CHECK(pthread_sigmask(SIG_SETMASK, NULL, &now) == 0);
	CHECK(sigismember(&now, SIGUSR2));
	CHECK(sigpending(&pending) == 0 && !sigismember(&pending, SIGUSR2));
	atomic_store(&stop_all, 1);
	pthread_join(b1, NULL);
	pthread_join(u, NULL);
	pthread_join(b2, NULL);
	CHECK(pthread_sigmask(SIG_SETMASK, &old, NULL) == 0);
}

/* ---- masks and alternate stacks are per thread ---- */

static void *mask_and_altstack(void *arg)
{
	(void)arg;
	sigset_t set, now;
	sigemptyset(&set);
	sigaddset(&set, SIGHUP);
	CHECK(pthread_sigmask(SIG_BLOCK, &set, NULL) == 0);
	CHECK(pthread_sigmask(SIG_SETMASK, NULL, &now) == 0);
	CHECK(sigismember(&now, SIGHUP));
	static char stack[16384];
	stack_t ss = {.ss_sp = stack, .ss_size = sizeof stack, .ss_flags = 0};
	CHECK(sigaltstack(&ss, NULL) == 0);
	stack_t cur;
	CHECK(sigaltstack(NULL, &cur) == 0 && cur.ss_sp == stack);
	return NULL;
}

static void per_thread_mask_and_altstack(void)
{
	pthread_t t;
	CHECK(pthread_create(&t, NULL, mask_and_altstack, NULL) == 0);
	pthread_join(t, NULL);
	sigset_t now;
	CHECK(pthread_sigmask(SIG_SETMASK, NULL, &now) == 0);
	CHECK(!sigismember(&now, SIGHUP));
	stack_t cur;
	CHECK(sigaltstack(NULL, &cur) == 0 && (cur.ss_flags & SS_DISABLE));
}

/* ---- cancellation ---- */

static atomic_int cleanup_ran;

static void cleanup(void *arg)
{
	(void)arg;
	atomic_store(&cleanup_ran, 1);
}

static void *cancellable(void *arg)
{
	(void)arg;
	pthread_cleanup_push(cleanup, NULL);
	for (;;)
		sleep(1); /* a cancellation point */
	pthread_cleanup_pop(0);
	return NULL;
}

static void unlock(void *m)
{
	pthread_mutex_unlock(m);
}

static void *cancel_blocked_in_cond(void *arg)
{
	static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
	static pthread_cond_t c = PTHREAD_COND_INITIALIZER;
	(void)arg;
	pthread_mutex_lock(&m);
	pthread_cleanup_push(unlock, &m);
	for (;;)
		pthread_cond_wait(&c, &m);
	pthread_cleanup_pop(1);
	return NULL;
}

static void cancellation(void)
{
	pthread_t t;
	void *ret = NULL;
	CHECK(pthread_create(&t, NULL, cancellable, NULL) == 0);
	sleep_ms(20);
	CHECK(pthread_cancel(t) == 0);
	CHECK(pthread_join(t, &ret) == 0);
	CHECK(ret == PTHREAD_CANCELED);
	CHECK(atomic_load(&cleanup_ran) == 1);
	ret = NULL;
	CHECK(pthread_create(&t, NULL, cancel_blocked_in_cond, NULL) == 0);
	sleep_ms(20);
	CHECK(pthread_cancel(t) == 0);
	CHECK(pthread_join(t, &ret) == 0);
	CHECK(ret == PTHREAD_CANCELED);
}

/* ---- tgkill's errors ---- */

static void tgkill_errors(void)
{
	pid_t me = getpid();
	CHECK(syscall(SYS_tgkill, me, gettid_(), 0) == 0);
	CHECK(syscall(SYS_tgkill, 0, gettid_(), 0) == -1 && errno == EINVAL);
	CHECK(syscall(SYS_tgkill, me, -1, 0) == -1 && errno == EINVAL);
	CHECK(syscall(SYS_tgkill, me, gettid_(), 65) == -1 && errno == EINVAL);
	/* A TID of another process under our TGID. */
	pid_t child = fork();
	if (child == 0) {
		pause();
		_exit(0);
	}
	CHECK(syscall(SYS_tgkill, me, child, 0) == -1 && errno == ESRCH);
	CHECK(syscall(SYS_tkill, child, 0) == 0);
	kill(child, SIGKILL);
	waitpid(child, NULL, 0);
}

/* ---- a fault in a thread kills the process ---- */

static void *fault(void *arg)
{
	(void)arg;
	sleep_ms(10);
	*(volatile int *)(uintptr_t)arg = 1;
	return NULL;
}

static void thread_fault_kills_the_process(void)
{
	pid_t pid = fork();
	if (pid == 0) {
		pthread_t t;
		pthread_create(&t, NULL, fault, (void *)(uintptr_t)0x10);
		for (;;)
			pause();
	}
	int status = 0;
	CHECK(waitpid(pid, &status, 0) == pid);
	CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGSEGV);
}

int main(void)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	pthread_kill_reaches_the_chosen_thread();
	process_signal_to_the_unblocked_thread();
	per_thread_mask_and_altstack();
	cancellation();
	tgkill_errors();
	thread_fault_kills_the_process();
	if (failures == 0)
		printf("pthread_signals: all checks passed\n");
	return failures ? 1 : 0;
}
