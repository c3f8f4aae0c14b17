/*
 * /test/c_eflags: user flags across system calls and single steps, as
 * Linux keeps them. NT and AC set by the program survive a syscall; with
 * TF set every instruction raises SIGTRAP (the handler runs with TF
 * clear), including after a sigreturn to a context whose rcx and r11
 * equal its rip and rflags (the case where a return through sysret would
 * trap again at once, before the instruction runs, and make no
 * progress); a syscall with TF set survives, and with TF and NT set NT
 * survives the SIGTRAP handlers' sigreturns. Exits 0 when every check
 * holds; each failure is printed. Runs unchanged on Linux.
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

static const char *me = "c_eflags";
#include "check.h"

#define TF (1ul << 8)
#define AC (1ul << 18)
#define NT (1ul << 14)

static unsigned long get_flags(void)
{
	unsigned long f;
	asm volatile("pushfq\n\tpopq %0" : "=rm"(f));
	return f;
}

static void set_flags(unsigned long f)
{
	asm volatile("pushq %0\n\tpopfq" : : "rm"(f) : "flags");
}

static volatile unsigned long traps;
static volatile unsigned long handler_flags;

static void on_trap(int sig, siginfo_t *info, void *uc)
{
	(void)sig;
	(void)info;
	(void)uc;
	traps++;
	handler_flags = get_flags();
}

/* A raw getppid with `extra` flags set around it; the flags after. */
static unsigned long syscall_with(unsigned long extra)
{
	unsigned long before = get_flags(), after;
	long ret;
	set_flags(before | extra);
	asm volatile("syscall" : "=a"(ret) : "a"(SYS_getppid) : "rcx", "r11", "memory");
	after = get_flags();
	set_flags(before);
	CHECK(ret == getppid());
	return after;
}

int main(void)
{
	/* NT and AC: set by the program, kept across a syscall. */
	CHECK((syscall_with(NT) & NT) == NT);
	CHECK((syscall_with(AC) & AC) == AC);
	CHECK((syscall_with(NT | AC) & (NT | AC)) == (NT | AC));
	CHECK((get_flags() & (NT | AC)) == 0);

	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = on_trap;
	sa.sa_flags = SA_SIGINFO | SA_NODEFER;
	CHECK(sigaction(SIGTRAP, &sa, 0) == 0);

	/* Single steps over a nop. */
	traps = 0;
	set_flags(get_flags() | TF);
	asm volatile("nop");
	set_flags(get_flags() & ~TF);
	CHECK(traps > 0);
	CHECK((handler_flags & TF) == 0);

	/* The trap after the nop returns to a context with rcx == rip and
	 * r11 == rflags (TF set): the next instructions must run. */
	traps = 0;
	extern unsigned char c_eflags_post_nop[];
	set_flags(get_flags() | TF);
	asm volatile("pushfq\n\t"
		     "popq %%r11\n\t"
		     "nop\n\t"
		     "c_eflags_post_nop:"
		     :
		     : "c"(c_eflags_post_nop)
		     : "r11");
	set_flags(get_flags() & ~TF);
	CHECK(traps > 0 && traps < 100);

	/* A syscall with TF set. */
	traps = 0;
	CHECK(syscall_with(TF) & TF || traps > 0);
	CHECK((get_flags() & TF) == 0);
	/* NT survives the SIGTRAP handlers' sigreturns too: a sigreturn
	 * keeps the NT of its caller (Linux's FIX_EFLAGS rule). */
	CHECK((syscall_with(TF | NT) & NT) == NT);
	CHECK((get_flags() & (TF | NT)) == 0);
	return check_report();
}
