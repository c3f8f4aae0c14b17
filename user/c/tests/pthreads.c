/*
 * /test/pthreads: POSIX threads through musl (create/join of 1000
 * threads, mutexes, condition variables, rwlocks, barriers, semaphores,
 * TLS, detached threads), the futex system call's errors, and what a
 * threaded process does around fork, vfork, exec, exit and SIGKILL, and
 * clone(CLONE_VFORK | CLONE_THREAD), whose caller waits for the new
 * thread's exit or exec, and the per-thread CPU clock.
 * Exits 0 when every check holds; each failure is printed. Runs
 * unchanged on Linux.
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
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* <linux/futex.h> (musl-gcc has no kernel headers). */
#define FUTEX_WAIT 0
#define FUTEX_WAKE 1
#define FUTEX_CMP_REQUEUE 4
#define FUTEX_WAKE_OP 5
#define FUTEX_WAIT_BITSET 9
#define FUTEX_PRIVATE_FLAG 128
#define FUTEX_CLOCK_REALTIME 256
#define FUTEX_WAIT_PRIVATE (FUTEX_WAIT | FUTEX_PRIVATE_FLAG)
#define FUTEX_WAKE_PRIVATE (FUTEX_WAKE | FUTEX_PRIVATE_FLAG)
#define FUTEX_BITSET_MATCH_ANY 0xffffffff
#define FUTEX_OP_ADD 1
#define FUTEX_OP_CMP_EQ 0
#define FUTEX_OP(op, oparg, cmp, cmparg)                                    \
	(((op & 0xf) << 28) | ((cmp & 0xf) << 24) | ((oparg & 0xfff) << 12) | \
	 (cmparg & 0xfff))

static int failures;

#define CHECK(cond)                                                       \
	do {                                                              \
		if (!(cond)) {                                            \
			printf("pthreads: FAILED: %s (line %d)\n", #cond, \
			       __LINE__);                                 \
			fflush(stdout);                                   \
			failures++;                                       \
		}                                                         \
	} while (0)

static pid_t gettid_(void)
{
	return (pid_t)syscall(SYS_gettid);
}

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* ---- create and join ---- */

static atomic_int tid_clash;
static pid_t main_tid;

static void *add_one(void *arg)
{
	pid_t tid = gettid_();
	if (tid == main_tid || tid == getpid())
		atomic_fetch_add(&tid_clash, 1);
	return (void *)((uintptr_t)arg + 1);
}

static void create_join_many(void)
{
	enum { TOTAL = 1000, BATCH = 25 };
	int joined = 0, bad = 0;
	main_tid = gettid_();
	CHECK(main_tid == getpid());
	for (int base = 0; base < TOTAL; base += BATCH) {
		pthread_t t[BATCH];
		int made = 0;
		for (int i = 0; i < BATCH; i++) {
			if (pthread_create(&t[i], NULL, add_one,
					   (void *)(uintptr_t)(base + i)) != 0)
				break;
			made++;
		}
		CHECK(made == BATCH);
		for (int i = 0; i < made; i++) {
			void *ret;
			if (pthread_join(t[i], &ret) == 0) {
				joined++;
				if ((uintptr_t)ret != (uintptr_t)(base + i + 1))
					bad++;
			}
		}
	}
	CHECK(joined == TOTAL);
	CHECK(bad == 0);
	CHECK(atomic_load(&tid_clash) == 0);
}

/* ---- mutex ---- */

enum { WORKERS = 8, ROUNDS = 20000 };
static pthread_mutex_t counter_lock = PTHREAD_MUTEX_INITIALIZER;
static long counter;

static void *count_up(void *arg)
{
	(void)arg;
	for (int i = 0; i < ROUNDS; i++) {
		pthread_mutex_lock(&counter_lock);
		long c = counter;
		if ((i & 63) == 0)
			sched_yield();
		counter = c + 1;
		pthread_mutex_unlock(&counter_lock);
	}
	return NULL;
}

static void run_workers(void *(*fn)(void *), int n)
{
	pthread_t t[64];
	for (int i = 0; i < n; i++)
		CHECK(pthread_create(&t[i], NULL, fn, (void *)(uintptr_t)i) == 0);
	for (int i = 0; i < n; i++)
		CHECK(pthread_join(t[i], NULL) == 0);
}

static void mutex_contention(void)
{
	counter = 0;
	run_workers(count_up, WORKERS);
	CHECK(counter == (long)WORKERS * ROUNDS);
}

/* ---- condition variable broadcast ---- */

static pthread_mutex_t cv_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int go, waiting_now, woke;

static void *wait_for_go(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&cv_lock);
	waiting_now++;
	pthread_cond_broadcast(&cv);
	while (!go)
		pthread_cond_wait(&cv, &cv_lock);
	woke++;
	pthread_mutex_unlock(&cv_lock);
	return NULL;
}

static void condvar_broadcast(void)
{
	enum { N = 16 };
	pthread_t t[N];
	for (int i = 0; i < N; i++)
		CHECK(pthread_create(&t[i], NULL, wait_for_go, NULL) == 0);
	pthread_mutex_lock(&cv_lock);
	while (waiting_now < N)
		pthread_cond_wait(&cv, &cv_lock);
	go = 1;
	pthread_cond_broadcast(&cv);
	pthread_mutex_unlock(&cv_lock);
	for (int i = 0; i < N; i++)
		CHECK(pthread_join(t[i], NULL) == 0);
	CHECK(woke == N);

	/* A timed wait that times out. */
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_nsec += 20 * 1000000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&cv_lock);
	CHECK(pthread_cond_timedwait(&cv, &cv_lock, &ts) == ETIMEDOUT);
	pthread_mutex_unlock(&cv_lock);
}

/* ---- rwlock ---- */

static pthread_rwlock_t rw = PTHREAD_RWLOCK_INITIALIZER;
static long pair_a, pair_b;
static atomic_int torn;

static void *rw_worker(void *arg)
{
	int writer = (uintptr_t)arg % 4 == 0;
	for (int i = 0; i < 3000; i++) {
		if (writer) {
			pthread_rwlock_wrlock(&rw);
			pair_a++;
			if ((i & 31) == 0)
				sched_yield();
			pair_b++;
			pthread_rwlock_unlock(&rw);
		} else {
			pthread_rwlock_rdlock(&rw);
			if (pair_a != pair_b)
				atomic_fetch_add(&torn, 1);
			pthread_rwlock_unlock(&rw);
		}
	}
	return NULL;
}

static void rwlock_readers_writers(void)
{
	run_workers(rw_worker, 8);
	CHECK(atomic_load(&torn) == 0);
	CHECK(pair_a == 2 * 3000 && pair_b == pair_a);
}

/* ---- barrier ---- */

enum { BARRIER_N = 6, PHASES = 50 };
static pthread_barrier_t barrier;
static atomic_int arrived[PHASES];
static atomic_int early;

static void *barrier_worker(void *arg)
{
	(void)arg;
	for (int p = 0; p < PHASES; p++) {
		atomic_fetch_add(&arrived[p], 1);
		pthread_barrier_wait(&barrier);
		if (atomic_load(&arrived[p]) != BARRIER_N)
			atomic_fetch_add(&early, 1);
		pthread_barrier_wait(&barrier);
	}
	return NULL;
}

static void barriers(void)
{
	CHECK(pthread_barrier_init(&barrier, NULL, BARRIER_N) == 0);
	run_workers(barrier_worker, BARRIER_N);
	CHECK(atomic_load(&early) == 0);
	pthread_barrier_destroy(&barrier);
}

/* ---- semaphores ---- */

static sem_t items, slots;
static int ring[8], head, tail;
static pthread_mutex_t ring_lock = PTHREAD_MUTEX_INITIALIZER;
static atomic_long consumed_sum;

static void *producer(void *arg)
{
	(void)arg;
	for (int i = 1; i <= 2000; i++) {
		sem_wait(&slots);
		pthread_mutex_lock(&ring_lock);
		ring[head++ % 8] = i;
		pthread_mutex_unlock(&ring_lock);
		sem_post(&items);
	}
	return NULL;
}

static void *consumer(void *arg)
{
	(void)arg;
	for (int i = 0; i < 2000; i++) {
		sem_wait(&items);
		pthread_mutex_lock(&ring_lock);
		int v = ring[tail++ % 8];
		pthread_mutex_unlock(&ring_lock);
		sem_post(&slots);
		atomic_fetch_add(&consumed_sum, v);
	}
	return NULL;
}

static void semaphores(void)
{
	CHECK(sem_init(&items, 0, 0) == 0);
	CHECK(sem_init(&slots, 0, 8) == 0);
	pthread_t p[2], c[2];
	for (int i = 0; i < 2; i++) {
		CHECK(pthread_create(&p[i], NULL, producer, NULL) == 0);
		CHECK(pthread_create(&c[i], NULL, consumer, NULL) == 0);
	}
	for (int i = 0; i < 2; i++) {
		pthread_join(p[i], NULL);
		pthread_join(c[i], NULL);
	}
	CHECK(atomic_load(&consumed_sum) == 2L * 2000 * 2001 / 2);
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_nsec += 10 * 1000000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	CHECK(sem_timedwait(&items, &ts) == -1 && errno == ETIMEDOUT);
}

/* ---- TLS ---- */

static __thread long tls_value = 77;
static atomic_int tls_bad;

static void *tls_worker(void *arg)
{
	long me = (long)(uintptr_t)arg;
	if (tls_value != 77)
		atomic_fetch_add(&tls_bad, 1);
	tls_value = me * 1000;
	for (int i = 0; i < 200; i++) {
		if ((i & 15) == 0)
			sched_yield();
		if (tls_value != me * 1000)
			atomic_fetch_add(&tls_bad, 1);
		tls_value = me * 1000;
	}
	return NULL;
}

static void tls_per_thread(void)
{
	tls_value = -1;
	run_workers(tls_worker, 8);
	CHECK(atomic_load(&tls_bad) == 0);
	CHECK(tls_value == -1);
}

/* ---- detached threads ---- */

static sem_t detached_done;
static atomic_int detached_ran;

static void *detached_worker(void *arg)
{
	(void)arg;
	atomic_fetch_add(&detached_ran, 1);
	sem_post(&detached_done);
	return NULL;
}

static void detached_threads(void)
{
	enum { N = 50 };
	CHECK(sem_init(&detached_done, 0, 0) == 0);
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	for (int i = 0; i < N; i++) {
		pthread_t t;
		CHECK(pthread_create(&t, &attr, detached_worker, NULL) == 0);
	}
	for (int i = 0; i < N; i++)
		sem_wait(&detached_done);
	CHECK(atomic_load(&detached_ran) == N);
	/* Their stacks are reused: more threads still start. */
	pthread_t t;
	CHECK(pthread_create(&t, NULL, add_one, NULL) == 0);
	CHECK(pthread_join(t, NULL) == 0);
}

/* ---- the futex system call itself ---- */

static long futex(void *uaddr, int op, int val, const struct timespec *ts,
		  void *uaddr2, int val3)
{
	return syscall(SYS_futex, uaddr, op, val, ts, uaddr2, val3);
}

static void futex_errors(void)
{
	static int word __attribute__((aligned(8)));
	struct timespec ts = {0, 5 * 1000000};
	word = 1;
	CHECK(futex(&word, FUTEX_WAIT_PRIVATE, 2, NULL, NULL, 0) == -1 &&
	      errno == EAGAIN);
	CHECK(futex(&word, FUTEX_WAIT_PRIVATE, 1, &ts, NULL, 0) == -1 &&
	      errno == ETIMEDOUT);
	CHECK(futex((char *)&word + 1, FUTEX_WAIT, 1, NULL, NULL, 0) == -1 &&
	      errno == EINVAL);
	CHECK(futex(NULL, FUTEX_WAIT, 0, NULL, NULL, 0) == -1 &&
	      errno == EFAULT);
	CHECK(futex(&word, FUTEX_WAIT, 1, (void *)8, NULL, 0) == -1 &&
	      errno == EFAULT);
	CHECK(futex(&word, FUTEX_WAIT_BITSET, 1, NULL, NULL, 0) == -1 &&
	      errno == EINVAL);
	CHECK(futex(&word, 99, 1, NULL, NULL, 0) == -1 && errno == ENOSYS);
	CHECK(futex(&word, FUTEX_WAIT | FUTEX_CLOCK_REALTIME, 1, &ts, NULL,
		    0) == -1 &&
	      errno == ENOSYS);
	struct timespec bad = {0, 2000000000};
	CHECK(futex(&word, FUTEX_WAIT, 1, &bad, NULL, 0) == -1 &&
	      errno == EINVAL);
	CHECK(futex(&word, FUTEX_WAKE, 1, NULL, NULL, 0) == 0);
	CHECK(futex(&word, FUTEX_CMP_REQUEUE, 1, (void *)1, &word, 5) == -1 &&
	      errno == EAGAIN);
	CHECK(futex(&word, FUTEX_CMP_REQUEUE, -1, (void *)1, &word, 1) == -1 &&
	      errno == EINVAL);
	/* An absolute CLOCK_REALTIME deadline in the past. */
	struct timespec past = {1, 0};
	CHECK(futex(&word, FUTEX_WAIT_BITSET | FUTEX_CLOCK_REALTIME, 1, &past,
		    NULL, FUTEX_BITSET_MATCH_ANY) == -1 &&
	      errno == ETIMEDOUT);
	/* WAKE_OP: *uaddr2 += 1, wake uaddr2's waiters if it was 0. */
	static int word2;
	word2 = 0;
	CHECK(futex(&word, FUTEX_WAKE_OP, 1, (void *)1, &word2,
		    FUTEX_OP(FUTEX_OP_ADD, 1, FUTEX_OP_CMP_EQ, 0)) == 0);
	CHECK(word2 == 1);
	/* Raw clone flag checks, as Linux. */
	CHECK(syscall(SYS_clone, CLONE_THREAD | CLONE_VM, 0, 0, 0, 0) == -1 &&
	      errno == EINVAL);
	CHECK(syscall(SYS_clone, CLONE_THREAD, 0, 0, 0, 0) == -1 &&
	      errno == EINVAL);
	CHECK(syscall(SYS_clone, CLONE_SIGHAND | CLONE_THREAD, 0, 0, 0, 0) ==
		      -1 &&
	      errno == EINVAL);
}

/* ---- a futex wait woken by another thread ---- */

static int ping_word;

static void *ping_waker(void *arg)
{
	(void)arg;
	sleep_ms(20);
	__atomic_store_n(&ping_word, 1, __ATOMIC_SEQ_CST);
	futex(&ping_word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
	return NULL;
}

static void futex_wake_between_threads(void)
{
	pthread_t t;
	ping_word = 0;
	CHECK(pthread_create(&t, NULL, ping_waker, NULL) == 0);
	while (__atomic_load_n(&ping_word, __ATOMIC_SEQ_CST) == 0) {
		long r = futex(&ping_word, FUTEX_WAIT_PRIVATE, 0, NULL, NULL, 0);
		CHECK(r == 0 || errno == EAGAIN || errno == EINTR);
	}
	pthread_join(t, NULL);
}

/* ---- Tine's rfork without RFPROC in a threaded process ---- */

static int rf_word;
static atomic_int rf_eintr, rf_done;

static void *rf_waiter(void *arg)
{
	(void)arg;
	while (__atomic_load_n(&rf_word, __ATOMIC_SEQ_CST) == 0) {
		if (futex(&rf_word, FUTEX_WAIT_PRIVATE, 0, NULL, NULL, 0) == -1 &&
		    errno == EINTR)
			atomic_fetch_add(&rf_eintr, 1);
	}
	atomic_fetch_add(&rf_done, 1);
	return NULL;
}

static void rfork_in_threaded_process(void)
{
	/* rfork(RFFDG) (Tine's 1000): the descriptor table unshared with the
	 * other threads parked around the change; their futex waits run
	 * again, never seeing EINTR. Linux has no rfork: ENOSYS, skipped. */
	enum { RFFDG = 1 << 2, N = 4 };
	pthread_t t[N];
	rf_word = 0;
	for (int i = 0; i < N; i++)
		CHECK(pthread_create(&t[i], NULL, rf_waiter, NULL) == 0);
	sleep_ms(20);
	long r = syscall(1000, RFFDG);
	if (r == -1 && errno == ENOSYS) {
		/* Linux. */
	} else {
		CHECK(r == 0);
		/* Descriptors still work for everyone. */
		CHECK(write(1, "", 0) == 0);
	}
	sleep_ms(20);
	CHECK(atomic_load(&rf_done) == 0);
	__atomic_store_n(&rf_word, 1, __ATOMIC_SEQ_CST);
	futex(&rf_word, FUTEX_WAKE_PRIVATE, N, NULL, NULL, 0);
	for (int i = 0; i < N; i++)
		pthread_join(t[i], NULL);
	CHECK(atomic_load(&rf_done) == N);
	CHECK(atomic_load(&rf_eintr) == 0);
}

/* ---- a shared futex between two processes ---- */

static int wait_status(pid_t pid);

static void shared_futex_across_fork(void)
{
	int *word = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
			 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	CHECK(word != MAP_FAILED);
	if (word == MAP_FAILED)
		return;
	sem_t *sem = (sem_t *)(word + 16);
	CHECK(sem_init(sem, 1, 0) == 0);
	*word = 0;
	pid_t pid = fork();
	if (pid == 0) {
		/* Waits (non-private) until the parent stores 1 and wakes. */
		while (__atomic_load_n(word, __ATOMIC_SEQ_CST) == 0)
			futex(word, FUTEX_WAIT, 0, NULL, NULL, 0);
		/* A process-shared semaphore the parent posts. */
		sem_wait(sem);
		_exit(*word == 1 ? 0 : 1);
	}
	sleep_ms(20);
	__atomic_store_n(word, 1, __ATOMIC_SEQ_CST);
	long woke = futex(word, FUTEX_WAKE, 1, NULL, NULL, 0);
	CHECK(woke == 0 || woke == 1);
	sem_post(sem);
	int status = wait_status(pid);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	munmap(word, 4096);
}

/* ---- threaded processes: fork, vfork, exec, exit, SIGKILL ---- */

static atomic_long ticks;
static atomic_int stop_ticking;

static void *ticker(void *arg)
{
	(void)arg;
	while (!atomic_load(&stop_ticking)) {
		atomic_fetch_add(&ticks, 1);
		sleep_ms(1);
	}
	return NULL;
}

static int wait_status(pid_t pid)
{
	int status = -1;
	while (waitpid(pid, &status, 0) == -1 && errno == EINTR)
		;
	return status;
}

static void fork_in_threaded_process(void)
{
	pthread_t t;
	atomic_store(&stop_ticking, 0);
	CHECK(pthread_create(&t, NULL, ticker, NULL) == 0);
	sleep_ms(5);
	pid_t pid = fork();
	if (pid == 0) {
		int bad = 0;
		/* Only the calling thread was copied: nobody ticks here. */
		long before = atomic_load(&ticks);
		sleep_ms(30);
		if (atomic_load(&ticks) != before)
			bad |= 1;
		if (gettid_() != getpid())
			bad |= 2;
		/* ... and it can make threads of its own. */
		pthread_t u;
		void *ret = NULL;
		if (pthread_create(&u, NULL, add_one, (void *)41) != 0 ||
		    pthread_join(u, &ret) != 0 || (uintptr_t)ret != 42)
			bad |= 4;
		_exit(bad);
	}
	CHECK(pid > 0);
	int status = wait_status(pid);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	if (!(WIFEXITED(status) && WEXITSTATUS(status) == 0))
		printf("pthreads: fork child status %#x\n", status);
	atomic_store(&stop_ticking, 1);
	pthread_join(t, NULL);
}

static void *exit_seven(void *arg)
{
	(void)arg;
	sleep_ms(10);
	exit(7);
}

static void *exit_five_later(void *arg)
{
	(void)arg;
	sleep_ms(30);
	exit(5);
}

static void exit_from_a_thread(void)
{
	/* exit() in any thread ends the whole process. */
	pid_t pid = fork();
	if (pid == 0) {
		pthread_t t;
		pthread_create(&t, NULL, exit_seven, NULL);
		for (;;)
			pause();
	}
	int status = wait_status(pid);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 7);
	/* The leader's pthread_exit leaves the process running. */
	pid = fork();
	if (pid == 0) {
		pthread_t t;
		pthread_create(&t, NULL, exit_five_later, NULL);
		pthread_exit(NULL);
	}
	status = wait_status(pid);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 5);
}

static void *sleeper(void *arg)
{
	(void)arg;
	for (;;)
		pause();
	return NULL;
}

static void sigkill_threaded(void)
{
	pid_t pid = fork();
	if (pid == 0) {
		pthread_t t;
		for (int i = 0; i < 4; i++)
			pthread_create(&t, NULL, i % 2 ? sleeper : ticker, NULL);
		for (;;)
			pause();
	}
	sleep_ms(20);
	CHECK(kill(pid, SIGKILL) == 0);
	int status = wait_status(pid);
	CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
}

static const char *self_path;

static void *exec_self(void *arg)
{
	char pidtext[32];
	snprintf(pidtext, sizeof pidtext, "%d", (int)getpid());
	(void)arg;
	char *argv[] = {(char *)self_path, "exec-child", pidtext, NULL};
	execv(self_path, argv);
	_exit(99);
}

static void exec_from_a_thread(void)
{
	pid_t pid = fork();
	if (pid == 0) {
		pthread_t t;
		pthread_create(&t, NULL, sleeper, NULL);
		pthread_create(&t, NULL, exec_self, NULL);
		for (;;)
			pause();
	}
	int status = wait_status(pid);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 42);
	if (!(WIFEXITED(status) && WEXITSTATUS(status) == 42))
		printf("pthreads: exec child status %#x\n", status);
}

static volatile int vfork_child_started, main_saw_it;

static void *vforker(void *arg)
{
	(void)arg;
	pid_t pid = vfork();
	if (pid == 0) {
		/* The other threads still run: the main thread answers. */
		vfork_child_started = 1;
		uint64_t end = now_ns() + 5000000000ull;
		while (!main_saw_it && now_ns() < end)
			sched_yield();
		_exit(main_saw_it ? 0 : 1);
	}
	return (void *)(intptr_t)wait_status(pid);
}

static void vfork_from_a_thread(void)
{
	pthread_t t;
	vfork_child_started = main_saw_it = 0;
	CHECK(pthread_create(&t, NULL, vforker, NULL) == 0);
	uint64_t end = now_ns() + 5000000000ull;
	while (!vfork_child_started && now_ns() < end)
		sched_yield();
	main_saw_it = 1;
	void *ret;
	pthread_join(t, &ret);
	int status = (int)(intptr_t)ret;
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

/* ---- clone(CLONE_VFORK | CLONE_THREAD): the caller waits ---- */

#define THREAD_FLAGS (CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | \
		      CLONE_THREAD | CLONE_SYSVSEM)

static atomic_int vthread_done;
static char vthread_stack[65536] __attribute__((aligned(16)));

/* Runs on the caller's TLS (no CLONE_SETTLS): raw calls only. */
static int vthread_sleep_then_exit(void *arg)
{
	(void)arg;
	struct timespec ts = {0, 50 * 1000000L};
	syscall(SYS_nanosleep, &ts, NULL);
	atomic_store(&vthread_done, 1);
	return 0;
}

static int vthread_exec(void *arg)
{
	char *const *argv = arg;
	syscall(SYS_execve, argv[0], argv, NULL);
	syscall(SYS_exit_group, 98);
	return 0;
}

static atomic_int vticks, vticks_stop;

static void *vticker(void *arg)
{
	(void)arg;
	while (!atomic_load(&vticks_stop)) {
		atomic_fetch_add(&vticks, 1);
		sleep_ms(1);
	}
	return NULL;
}

static void clone_vfork_thread(void)
{
	/* The caller waits until the new thread exits; the others run. */
	pthread_t ticker_thread;
	atomic_store(&vticks_stop, 0);
	CHECK(pthread_create(&ticker_thread, NULL, vticker, NULL) == 0);
	sleep_ms(5);
	atomic_store(&vthread_done, 0);
	int before = atomic_load(&vticks);
	int tid = clone(vthread_sleep_then_exit, vthread_stack + sizeof vthread_stack,
			THREAD_FLAGS | CLONE_VFORK, NULL);
	CHECK(tid > 0 && tid != getpid());
	CHECK(atomic_load(&vthread_done) == 1);
	CHECK(atomic_load(&vticks) > before);
	atomic_store(&vticks_stop, 1);
	pthread_join(ticker_thread, NULL);

	/* The new thread execs: the process goes on in it (the waiting
	 * caller ends with the other threads), PID = TID = the old PID. */
	pid_t pid = fork();
	if (pid == 0) {
		char pidtext[32];
		snprintf(pidtext, sizeof pidtext, "%d", (int)getpid());
		char *argv[] = {(char *)self_path, "exec-child", pidtext, NULL};
		clone(vthread_exec, vthread_stack + sizeof vthread_stack,
		      THREAD_FLAGS | CLONE_VFORK, argv);
		_exit(97);
	}
	int status = wait_status(pid);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 42);
}

/* ---- per-thread CPU clocks ---- */

static long long clock_ns(clockid_t id)
{
	struct timespec ts;
	if (clock_gettime(id, &ts) != 0)
		return -1;
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* Spins in user mode until `id` has advanced by `ns`. */
static void burn(clockid_t id, long long ns)
{
	long long start = clock_ns(id);
	while (clock_ns(id) - start < ns)
		;
}

static void *thread_clock_worker(void *arg)
{
	long long *out = arg;
	out[0] = clock_ns(CLOCK_THREAD_CPUTIME_ID);
	burn(CLOCK_THREAD_CPUTIME_ID, 20000000);
	out[1] = clock_ns(CLOCK_THREAD_CPUTIME_ID);
	return NULL;
}

/* CLOCK_THREAD_CPUTIME_ID counts the calling thread only; the process
 * clock counts every thread, ended ones too. */
static void thread_cpu_clocks(void)
{
	burn(CLOCK_PROCESS_CPUTIME_ID, 100000000);
	long long main_before = clock_ns(CLOCK_THREAD_CPUTIME_ID);
	long long proc_before = clock_ns(CLOCK_PROCESS_CPUTIME_ID);
	long long t[2] = {-1, -1};
	pthread_t th;
	CHECK(pthread_create(&th, NULL, thread_clock_worker, t) == 0);
	CHECK(pthread_join(th, NULL) == 0);
	/* A new thread starts near 0, not at the process's 100 ms. */
	CHECK(t[0] >= 0 && t[0] < 50000000);
	CHECK(t[1] - t[0] >= 20000000);
	long long proc_after = clock_ns(CLOCK_PROCESS_CPUTIME_ID);
	CHECK(proc_after - proc_before >= 20000000);
	/* Waiting in join spends (almost) no CPU of the main thread's. */
	CHECK(clock_ns(CLOCK_THREAD_CPUTIME_ID) - main_before < proc_after - proc_before);
}

int main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "exec-child") == 0) {
		/* execve from a non-leader thread: same PID, one thread, the
		 * caller is the leader now. */
		int ok = atoi(argv[2]) == getpid() && gettid_() == getpid();
		return ok ? 42 : 1;
	}
	self_path = argv[0];
	setvbuf(stdout, NULL, _IONBF, 0);
	create_join_many();
	mutex_contention();
	condvar_broadcast();
	rwlock_readers_writers();
	barriers();
	semaphores();
	tls_per_thread();
	detached_threads();
	futex_errors();
	futex_wake_between_threads();
	shared_futex_across_fork();
	rfork_in_threaded_process();
	fork_in_threaded_process();
	exit_from_a_thread();
	sigkill_threaded();
	exec_from_a_thread();
	vfork_from_a_thread();
	clone_vfork_thread();
	thread_cpu_clocks();
	if (failures == 0)
		printf("pthreads: all checks passed\n");
	return failures ? 1 : 0;
}
