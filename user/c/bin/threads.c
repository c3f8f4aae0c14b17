/*
 * threads [-s] N: starts N threads in one process; each reports its TID
 * and the CPU it runs on, then all wait at a barrier until the main
 * thread (after a second with -s, so that `ps` can count them) lets them
 * go and joins them. The user shell's `threads` builtin runs `threads -s
 * N` in the background and shows `ps`. Runs unchanged on Linux.
 *
 * The kernel's thread tests use its other modes, where N threads block
 * in pthread_cond_wait while one more thread:
 *   -e N   calls exit(3)                  (the process exits with 3)
 *   -k N   stores to address 0x10         (the process dies of SIGSEGV)
 *   -x N   execs "threads -c PID"         (that exits 0 iff its PID and
 *                                          TID are both the old PID)
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

static pthread_barrier_t all_up, release;
static pthread_mutex_t out = PTHREAD_MUTEX_INITIALIZER;

static void *report(void *arg)
{
	long tid = syscall(SYS_gettid);
	int cpu = sched_getcpu();
	pthread_mutex_lock(&out);
	printf("thread %ld: tid %ld cpu %d\n", (long)(intptr_t)arg, tid, cpu);
	pthread_mutex_unlock(&out);
	pthread_barrier_wait(&all_up);
	pthread_barrier_wait(&release);
	return NULL;
}

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t never = PTHREAD_COND_INITIALIZER;
static char mode;
static char *self;

static void *block(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&lock);
	for (;;)
		pthread_cond_wait(&never, &lock);
	return NULL;
}

static void *act(void *arg)
{
	char pid[32];
	(void)arg;
	usleep(20000);
	switch (mode) {
	case 'e':
		exit(3);
	case 'k': {
		volatile int *volatile bad = (volatile int *)(uintptr_t)0x10;
		*bad = 1;
		break;
	}
	case 'x':
		snprintf(pid, sizeof pid, "%d", (int)getpid());
		execl(self, self, "-c", pid, (char *)NULL);
		_exit(4);
	}
	return NULL;
}

static int blocked_mode(long n)
{
	pthread_t t;
	for (long i = 0; i < n; i++)
		if (pthread_create(&t, NULL, block, NULL) != 0)
			return 1;
	if (pthread_create(&t, NULL, act, NULL) != 0)
		return 1;
	block(NULL);
	return 1;
}

int main(int argc, char **argv)
{
	self = argv[0];
	if (argc == 3 && argv[1][0] == '-') {
		mode = argv[1][1];
		if (mode == 'c')
			return atoi(argv[2]) == getpid() &&
					       syscall(SYS_gettid) == getpid()
				       ? 0
				       : 1;
		if (strchr("ekx", mode))
			return blocked_mode(atol(argv[2]));
	}
	int linger = argc > 2 && strcmp(argv[1], "-s") == 0;
	if (linger) {
		argv++;
		argc--;
	}
	long n = argc > 1 ? atol(argv[1]) : 4;
	if (n < 1 || n > 10000) {
		fprintf(stderr, "usage: threads [N] (1..10000)\n");
		return 2;
	}
	pthread_t *t = calloc((size_t)n, sizeof *t);
	if (!t || pthread_barrier_init(&all_up, NULL, (unsigned)n + 1) != 0 ||
	    pthread_barrier_init(&release, NULL, (unsigned)n + 1) != 0) {
		perror("threads");
		return 1;
	}
	long made = 0;
	for (; made < n; made++) {
		int err = pthread_create(&t[made], NULL, report, (void *)(intptr_t)made);
		if (err) {
			fprintf(stderr, "threads: pthread_create: error %d after %ld\n", err, made);
			return 1;
		}
	}
	pthread_barrier_wait(&all_up);
	printf("threads: %ld threads in pid %d (main tid %ld) all up\n", made,
	       (int)getpid(), (long)syscall(SYS_gettid));
	fflush(stdout);
	if (linger)
		sleep(1);
	pthread_barrier_wait(&release);
	for (long i = 0; i < made; i++)
		pthread_join(t[i], NULL);
	printf("threads: joined %ld\n", made);
	return 0;
}
