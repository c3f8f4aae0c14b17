/*
 * /test/c_kill: who may signal whom (POSIX kill(2)), with two users.
 * Root may signal anyone; a process whose real or effective uid is the
 * target's real or saved uid may signal it; SIGCONT may go to any
 * process of the sender's session; everything else is EPERM, for kill
 * (a process, a group, signal 0 too), tkill and tgkill. Exits 0 when
 * every check holds; each failure is printed. Runs unchanged on Linux
 * (as root).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *me = "c_kill";
#include "check.h"

#define ERR(call) ((call) < 0 ? -errno : 0)

/* A child that runs `setup` and then waits to be killed; returns its PID
 * once it is set up. */
static pid_t waiter(int new_session, uid_t uid)
{
	int ready[2];
	if (pipe(ready) != 0)
		return -1;
	pid_t pid = fork();
	if (pid == 0) {
		close(ready[0]);
		if (new_session && setsid() < 0)
			_exit(2);
		if (setuid(uid) != 0)
			_exit(3);
		write(ready[1], "x", 1);
		for (;;)
			pause();
	}
	close(ready[1]);
	char c;
	if (read(ready[0], &c, 1) != 1)
		pid = -1;
	close(ready[0]);
	return pid;
}

int main(void)
{
	if (getuid() != 0) {
		printf("%s: FAILED: must start as root\n", me);
		return 1;
	}
	/* alien: uid 1001 in a session of its own; neighbour: uid 1001 in
	 * ours. */
	pid_t alien = waiter(1, 1001);
	pid_t neighbour = waiter(0, 1001);
	CHECK(alien > 0 && neighbour > 0);

	pid_t sender = fork();
	if (sender == 0) {
		me = "c_kill (uid 1000)";
		if (setuid(1000) != 0) {
			printf("%s: FAILED: setuid\n", me);
			_exit(1);
		}
		CHECK(ERR(kill(alien, SIGTERM)) == -EPERM);
		CHECK(ERR(kill(alien, 0)) == -EPERM);
		CHECK(ERR(kill(alien, SIGCONT)) == -EPERM);
		CHECK(ERR(kill(-alien, SIGTERM)) == -EPERM);
		CHECK(ERR(kill(neighbour, SIGTERM)) == -EPERM);
		CHECK(kill(neighbour, SIGCONT) == 0);
		CHECK(ERR(syscall(SYS_tkill, alien, SIGTERM)) == -EPERM);
		CHECK(ERR(syscall(SYS_tgkill, alien, alien, SIGTERM)) == -EPERM);
		CHECK(ERR(kill(getppid(), 0)) == -EPERM);
		CHECK(kill(getpid(), 0) == 0);
		CHECK(ERR(kill(999999, 0)) == -ESRCH);
		_exit(failures != 0);
	}
	int status = -1;
	CHECK(sender > 0 && waitpid(sender, &status, 0) == sender);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);

	/* A process of uid 1001 may signal another of uid 1001. */
	pid_t peer = fork();
	if (peer == 0) {
		if (setuid(1001) != 0)
			_exit(2);
		_exit(kill(alien, 0) == 0 && kill(neighbour, 0) == 0
			      ? 0 : 1);
	}
	CHECK(peer > 0 && waitpid(peer, &status, 0) == peer);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);

	/* Root may signal anyone. */
	CHECK(kill(alien, 0) == 0);
	CHECK(kill(alien, SIGKILL) == 0 && kill(neighbour, SIGKILL) == 0);
	CHECK(waitpid(alien, &status, 0) == alien && WIFSIGNALED(status));
	CHECK(waitpid(neighbour, &status, 0) == neighbour &&
	      WTERMSIG(status) == SIGKILL);
	return check_report();
}
