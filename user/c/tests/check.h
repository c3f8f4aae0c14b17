/*
 * The C tests' check harness: CHECK(cond) counts a check and, when cond
 * is false, prints "NAME: FAILED: cond (line L, errno E)" and counts a
 * failure. Include it after defining `static const char *me = "NAME";`;
 * a test ends with `return check_report();` (or reports `checks` and
 * `failures` in its own words).
 */
#ifndef TINE_C_TESTS_CHECK_H
#define TINE_C_TESTS_CHECK_H

#include <errno.h>
#include <stdio.h>

static int failures, checks;

#define CHECK(cond)                                                    \
	do {                                                           \
		checks++;                                              \
		if (!(cond)) {                                         \
			printf("%s: FAILED: %s (line %d, errno %d)\n", \
			       me, #cond, __LINE__, errno);            \
			failures++;                                    \
		}                                                      \
	} while (0)

/* Prints "NAME: ok (N checks)" or "NAME: F of N checks failed" and
 * returns the exit status: 0 when every check held. */
static inline int check_report(void)
{
	if (failures == 0)
		printf("%s: ok (%d checks)\n", me, checks);
	else
		printf("%s: %d of %d checks failed\n", me, failures, checks);
	fflush(stdout);
	return failures != 0;
}

#endif
