/*
 * /test/signals: signals through musl's own functions (sigaction with
 * SA_SIGINFO, raise, sigprocmask, sigpending, sigsuspend, sigsetjmp and
 * siglongjmp out of a SIGSEGV handler, kill, waitpid with WUNTRACED and
 * WCONTINUED, setpgid and kill of a group). Exits 0 when every check
 * holds; each failure is printed. Runs unchanged on Linux.
 */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static int failures;

#define CHECK(cond)                                                      \
	do {                                                             \
		if (!(cond)) {                                           \
			printf("signals: FAILED: %s (line %d)\n", #cond, \
			       __LINE__);                                \
			failures++;                                      \
		}                                                        \
	} while (0)

static sigjmp_buf recover;
static volatile void *fault_addr;
static volatile int fault_code;

static void on_segv(int sig, siginfo_t *info, void *uc)
{
	(void)sig;
	(void)uc;
	fault_addr = info->si_addr;
	fault_code = info->si_code;
	siglongjmp(recover, 1);
}

static volatile sig_atomic_t usr1_hits;
static volatile int usr1_pid;

static void on_usr1(int sig, siginfo_t *info, void *uc)
{
	(void)uc;
	if (sig == SIGUSR1)
		usr1_hits++;
	usr1_pid = info->si_pid;
}

static void segv_and_longjmp(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = on_segv;
	sa.sa_flags = SA_SIGINFO;
	CHECK(sigaction(SIGSEGV, &sa, NULL) == 0);
	if (sigsetjmp(recover, 1) == 0) {
		*(volatile int *)0x18 = 1;
		CHECK(!"the store to 0x18 did not fault");
	}
	CHECK(fault_addr == (void *)0x18);
	CHECK(fault_code == SEGV_MAPERR);
	/* siglongjmp restored the mask: SIGSEGV is not blocked any more. */
	sigset_t now;
	CHECK(sigprocmask(SIG_BLOCK, NULL, &now) == 0);
	CHECK(!sigismember(&now, SIGSEGV));
	signal(SIGSEGV, SIG_DFL);
}

static void raise_block_suspend(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = on_usr1;
	sa.sa_flags = SA_SIGINFO;
	CHECK(sigaction(SIGUSR1, &sa, NULL) == 0);

	CHECK(raise(SIGUSR1) == 0);
	CHECK(usr1_hits == 1);
	CHECK(usr1_pid == getpid());

	sigset_t usr1, old, pending;
	sigemptyset(&usr1);
	sigaddset(&usr1, SIGUSR1);
	CHECK(sigprocmask(SIG_BLOCK, &usr1, &old) == 0);
	CHECK(kill(getpid(), SIGUSR1) == 0);
	CHECK(usr1_hits == 1);
	CHECK(sigpending(&pending) == 0 && sigismember(&pending, SIGUSR1));
	/* sigsuspend with an empty mask takes the pending signal at once. */
	sigset_t empty;
	sigemptyset(&empty);
	CHECK(sigsuspend(&empty) == -1 && errno == EINTR);
	CHECK(usr1_hits == 2);
	sigset_t now;
	CHECK(sigprocmask(SIG_SETMASK, &old, &now) == 0);
	CHECK(sigismember(&now, SIGUSR1));
	CHECK(sigaction(SIGUSR1, NULL, &sa) == 0 && sa.sa_sigaction == on_usr1);
	CHECK(sigaction(SIGKILL, &sa, NULL) == -1 && errno == EINVAL);
}

static pid_t pausing_child(void)
{
	pid_t pid = fork();
	if (pid == 0) {
		for (;;)
			pause();
	}
	return pid;
}

static void children(void)
{
	int status;
	pid_t pid = pausing_child();
	CHECK(pid > 0);
	CHECK(kill(pid, SIGSTOP) == 0);
	CHECK(waitpid(pid, &status, WUNTRACED) == pid);
	CHECK(WIFSTOPPED(status) && WSTOPSIG(status) == SIGSTOP);
	CHECK(kill(pid, SIGCONT) == 0);
	CHECK(waitpid(pid, &status, WCONTINUED) == pid);
	CHECK(WIFCONTINUED(status));
	CHECK(kill(pid, SIGTERM) == 0);
	CHECK(waitpid(pid, &status, 0) == pid);
	CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM);

	/* A group of two, killed together. */
	pid_t a = pausing_child(), b = pausing_child();
	CHECK(setpgid(a, a) == 0);
	CHECK(setpgid(b, a) == 0);
	CHECK(getpgid(b) == a);
	CHECK(kill(-a, SIGINT) == 0);
	for (int i = 0; i < 2; i++) {
		pid_t got = waitpid(-a, &status, 0);
		CHECK(got == a || got == b);
		CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGINT);
	}
	CHECK(waitpid(-a, &status, WNOHANG) == -1 && errno == ECHILD);
	CHECK(kill(-a, 0) == -1 && errno == ESRCH);
}

int main(void)
{
	segv_and_longjmp();
	raise_block_suspend();
	children();
	if (failures == 0)
		printf("signals: ok\n");
	return failures != 0;
}
