/*
 * /test/c_clone3: clone3 children that run on a stack of their own
 * (struct clone_args' stack and stack_size): the child starts with its
 * stack pointer at stack + stack_size (x86-64 stacks grow down), in a
 * copy of the address space (no CLONE_VM: its writes stay its own) and
 * in the parent's (CLONE_VM: the parent sees them, and its own stack is
 * untouched); the exit_signal makes it waitable. A stack without a size,
 * or a size without a stack, is EINVAL. Exits 0 when every check holds;
 * each failure is printed. Runs unchanged on Linux.
 *
 * The system call is made in inline assembly: a child on a new stack has
 * no C frame to return into, so it calls its function and exits there.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *me = "c_clone3";
#include "check.h"

#ifndef CLONE_VM
#define CLONE_VM 0x100
#endif

/* struct clone_args, version 0 (64 bytes). */
struct clone_args_v0 {
	uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack,
		stack_size, tls;
};

#define STACK_SIZE (64 * 1024)
static unsigned char stack[STACK_SIZE] __attribute__((aligned(16)));
/* Written by the children: through CLONE_VM the parent sees it. */
static volatile long shared_word;

/*
 * clone3(args, sizeof *args): in the child, fn() runs on the new stack
 * and its result is the exit status (exit, not exit_group: nothing else
 * runs in the child). The parent gets the PID or -errno.
 */
static long clone3_run(struct clone_args_v0 *args, int (*fn)(void))
{
	long ret;
	__asm__ volatile("syscall\n\t"
			 "test %%rax, %%rax\n\t"
			 "jnz 1f\n\t"
			 "xor %%ebp, %%ebp\n\t"
			 "call *%[fn]\n\t"
			 "mov %%eax, %%edi\n\t"
			 "mov %[exit], %%eax\n\t"
			 "syscall\n\t"
			 "ud2\n"
			 "1:"
			 : "=a"(ret)
			 : "a"((long)SYS_clone3), "D"(args), "S"(sizeof *args),
			   [fn] "r"(fn), [exit] "i"(SYS_exit)
			 : "rcx", "r11", "memory");
	return ret;
}

/* Where the stack pointer is, roughly: a local's address. */
static __attribute__((noinline)) uintptr_t stack_here(void)
{
	volatile int local = 0;
	return (uintptr_t)&local;
}

/* 0 if the child runs in the top page of `stack`, 1 otherwise. */
static int on_the_new_stack(void)
{
	uintptr_t sp = stack_here();
	uintptr_t top = (uintptr_t)stack + STACK_SIZE;
	return sp < top && sp >= top - 4096 ? 0 : 1;
}

/* Checks its stack, then stores a word (a copy's or the parent's). */
static int child_writes(void)
{
	if (on_the_new_stack() != 0)
		return 1;
	shared_word = 42;
	return 0;
}

static void run(uint64_t flags, long want_word, const char *what)
{
	struct clone_args_v0 a;
	memset(&a, 0, sizeof a);
	a.flags = flags;
	a.exit_signal = SIGCHLD;
	a.stack = (uintptr_t)stack;
	a.stack_size = STACK_SIZE;
	shared_word = 7;
	memset(stack, 0xaa, sizeof stack);
	long pid = clone3_run(&a, child_writes);
	CHECK(pid > 0);
	if (pid <= 0) {
		printf("%s: %s: clone3 gave %ld\n", me, what, pid);
		return;
	}
	int status = -1;
	CHECK(waitpid(pid, &status, 0) == pid);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		printf("%s: %s: child status %#x\n", me, what, status);
	CHECK(shared_word == want_word);
	/* The parent is still on its own stack. */
	uintptr_t sp = stack_here();
	CHECK(sp < (uintptr_t)stack || sp >= (uintptr_t)stack + STACK_SIZE);
	/* The child's frames were at the top of the new stack: in the
	 * parent's memory only when shared. */
	int used = 0;
	for (size_t i = STACK_SIZE - 256; i < STACK_SIZE; i++)
		used |= stack[i] != 0xaa;
	CHECK(used == (flags & CLONE_VM ? 1 : 0));
}

int main(void)
{
	run(0, 7, "a copy");
	run(CLONE_VM, 42, "shared memory");

	struct clone_args_v0 a;
	memset(&a, 0, sizeof a);
	a.exit_signal = SIGCHLD;
	a.stack = (uintptr_t)stack;
	CHECK(clone3_run(&a, child_writes) == -EINVAL);
	a.stack = 0;
	a.stack_size = STACK_SIZE;
	CHECK(clone3_run(&a, child_writes) == -EINVAL);
	errno = 0;
	CHECK(waitpid(-1, NULL, WNOHANG) == -1 && errno == ECHILD);

	return check_report();
}
