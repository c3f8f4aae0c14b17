/*
 * The C tests' check harness: CHECK(cond) counts a check and, when cond
 * is false, prints "NAME: FAILED: cond (line L, errno E)" and counts a
 * failure. Include it after defining `static const char *me = "NAME";`;
 * each test ends by reporting `checks` and `failures` itself.
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

#endif
