/* The timed operations minlat and oploop share (one copy of each). */
#ifndef TINE_BENCH_OPS_H
#define TINE_BENCH_OPS_H

#include <sys/wait.h>
#include <unistd.h>

#define PAGES 256
#define PAGE 4096L

extern char **environ;
static char *nop[] = { "/bin/nop", 0 };

/* vfork, the child _exits at once (its own frame: nothing of the caller's
 * is live across the vfork). */
static __attribute__((noinline)) void vfork_exit_wait(void)
{
	pid_t c = vfork();

	if (c == 0)
		_exit(0);
	waitpid(c, 0, 0);
}

/* vfork, the child execs /bin/nop. */
static __attribute__((noinline)) void vfork_exec_wait(void)
{
	pid_t c = vfork();

	if (c == 0) {
		execve(nop[0], nop, environ);
		_exit(127);
	}
	waitpid(c, 0, 0);
}

#endif
