/*
 * /test/c_prctl: prctl's process knobs through musl. PR_SET_NAME cuts at
 * 15 bytes and PR_GET_NAME reads it back (and /proc/self/comm agrees);
 * PR_SET_PDEATHSIG is not inherited by fork and is delivered when the
 * parent dies; PR_SET_CHILD_SUBREAPER makes this process the new parent
 * of an orphaned grandchild (which it can then wait for); bad signals
 * and unknown options are EINVAL, bad pointers EFAULT; execve names the
 * process after the last component of the path it was given (a link,
 * not its target: /proc/self/exe gives "exe"). Exits 0 when
 * every check holds; each failure is printed. Runs unchanged on Linux.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *me = "c_prctl";
#include "check.h"

/* A raw prctl: -errno on failure. */
static long raw_prctl(long option, unsigned long arg2)
{
	long r = syscall(SYS_prctl, option, arg2, 0, 0, 0);
	return r < 0 ? -errno : r;
}

static void names(void)
{
	char name[16] = "unchanged";
	CHECK(prctl(PR_SET_NAME, "a-name-longer-than-fifteen") == 0);
	CHECK(prctl(PR_GET_NAME, name) == 0);
	CHECK(strcmp(name, "a-name-longer-t") == 0);
	char comm[32] = {0};
	int fd = open("/proc/self/comm", O_RDONLY);
	CHECK(fd >= 0);
	if (fd >= 0) {
		CHECK(read(fd, comm, sizeof comm) == 16);
		CHECK(strcmp(comm, "a-name-longer-t\n") == 0);
		close(fd);
	}
	CHECK(prctl(PR_SET_NAME, "c_prctl") == 0);
	CHECK(prctl(PR_GET_NAME, name) == 0 && strcmp(name, "c_prctl") == 0);
	CHECK(raw_prctl(PR_SET_NAME, 16) == -EFAULT);
	CHECK(raw_prctl(PR_GET_NAME, 16) == -EFAULT);
}

static void pdeathsig_rules(void)
{
	int sig = -1;
	CHECK(raw_prctl(PR_SET_PDEATHSIG, 65) == -EINVAL);
	CHECK(raw_prctl(PR_SET_PDEATHSIG, -1UL) == -EINVAL);
	CHECK(prctl(PR_SET_PDEATHSIG, SIGUSR1) == 0);
	CHECK(prctl(PR_GET_PDEATHSIG, &sig) == 0 && sig == SIGUSR1);
	CHECK(raw_prctl(PR_GET_PDEATHSIG, 16) == -EFAULT);
	pid_t pid = fork();
	if (pid == 0) {
		int child = -1;
		prctl(PR_GET_PDEATHSIG, &child);
		_exit(child == 0 ? 0 : 1);
	}
	int status = -1;
	CHECK(pid > 0 && waitpid(pid, &status, 0) == pid);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	CHECK(prctl(PR_SET_PDEATHSIG, 0) == 0);
	CHECK(prctl(PR_GET_PDEATHSIG, &sig) == 0 && sig == 0);
}

/*
 * This process becomes a subreaper, forks a middle child that forks a
 * grandchild; the grandchild asks for SIGTERM at its parent's death and
 * says so through a pipe; the middle child then exits. The grandchild,
 * now ours, dies of SIGTERM and we reap it.
 */
static void subreaper_and_pdeathsig(void)
{
	int on = -1;
	CHECK(prctl(PR_GET_CHILD_SUBREAPER, &on) == 0 && on == 0);
	CHECK(prctl(PR_SET_CHILD_SUBREAPER, 1) == 0);
	CHECK(prctl(PR_SET_CHILD_SUBREAPER, 1) == 0);
	CHECK(prctl(PR_GET_CHILD_SUBREAPER, &on) == 0 && on == 1);
	CHECK(raw_prctl(PR_GET_CHILD_SUBREAPER, 16) == -EFAULT);
	int ready[2];
	CHECK(pipe(ready) == 0);
	pid_t middle = fork();
	if (middle == 0) {
		pid_t grandchild = fork();
		if (grandchild == 0) {
			close(ready[0]);
			prctl(PR_SET_PDEATHSIG, SIGTERM);
			write(ready[1], &grandchild, sizeof grandchild);
			for (;;)
				pause();
		}
		close(ready[1]);
		pid_t got = 0;
		read(ready[0], &got, sizeof got);
		/* Tell the top which PID to wait for, through the exit. */
		_exit(grandchild > 0 ? 0 : 1);
	}
	close(ready[1]);
	int status = -1;
	CHECK(middle > 0 && waitpid(middle, &status, 0) == middle);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	/* The grandchild is ours now: wait for any child. */
	pid_t orphan = waitpid(-1, &status, 0);
	CHECK(orphan > 0 && orphan != middle);
	CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM);
	CHECK(waitpid(-1, &status, WNOHANG) == -1 && errno == ECHILD);
	close(ready[0]);
	CHECK(prctl(PR_SET_CHILD_SUBREAPER, 0) == 0);
	CHECK(prctl(PR_SET_CHILD_SUBREAPER, 0) == 0);
	CHECK(prctl(PR_GET_CHILD_SUBREAPER, &on) == 0 && on == 0);
}

/* Runs this program again as PATH (argv "comm-is" NAME) and checks the
 * re-run's PR_GET_NAME is NAME (the child's exit status says). */
static void exec_names_as(const char *path, const char *name)
{
	pid_t pid = fork();
	if (pid == 0) {
		char *argv[] = {"anything", "comm-is", (char *)name, NULL};
		execv(path, argv);
		_exit(99);
	}
	int status = -1;
	CHECK(pid > 0 && waitpid(pid, &status, 0) == pid);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		printf("%s: exec of %s: status %#x\n", me, path, status);
}

static void exec_names(void)
{
	exec_names_as("/proc/self/exe", "exe");
	char self[256] = {0};
	CHECK(readlink("/proc/self/exe", self, sizeof self - 1) > 0);
	const char *link = "/tmp/c_prctl-link";
	unlink(link);
	CHECK(symlink(self, link) == 0);
	exec_names_as(link, "c_prctl-link");
	CHECK(unlink(link) == 0);
}

int main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "comm-is") == 0) {
		char name[16] = {0};
		if (prctl(PR_GET_NAME, name) != 0)
			return 2;
		if (strcmp(name, argv[2]) != 0) {
			printf("%s: named %s, not %s\n", me, name, argv[2]);
			return 1;
		}
		return 0;
	}
	names();
	exec_names();
	pdeathsig_rules();
	subreaper_and_pdeathsig();
	CHECK(raw_prctl(0x7fff0000, 0) == -EINVAL);
	return check_report();
}
