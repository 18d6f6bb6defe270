/* test_error.c - result codes: their pinned values, csp_strerror and
 * csp_errname, and the version. */
#include <string.h>

#include "util.h"

TEST(error_codes_have_pinned_values)
{
    /* The ABI: these numbers never change (docs/abi.md). */
    ASSERT_EQ(0, CSP_OK);
    ASSERT_EQ(1, CSP_PENDING);
    ASSERT_EQ(2, CSP_REDUCED);
    ASSERT_EQ(-1, CSP_EINVAL);
    ASSERT_EQ(-2, CSP_ENOMEM);
    ASSERT_EQ(-3, CSP_ECLOSED);
    ASSERT_EQ(-4, CSP_EAGAIN);
    ASSERT_EQ(-5, CSP_ETIMEDOUT);
    ASSERT_EQ(-6, CSP_ECANCELED);
    ASSERT_EQ(-7, CSP_EBUSY);
    ASSERT_EQ(-8, CSP_EPERM);
}

TEST(errname_names_every_code)
{
    static const struct {
        int rc;
        const char *name;
    } names[] = {
        {CSP_OK, "OK"},
        {CSP_PENDING, "PENDING"},
        {CSP_REDUCED, "REDUCED"},
        {CSP_EINVAL, "EINVAL"},
        {CSP_ENOMEM, "ENOMEM"},
        {CSP_ECLOSED, "ECLOSED"},
        {CSP_EAGAIN, "EAGAIN"},
        {CSP_ETIMEDOUT, "ETIMEDOUT"},
        {CSP_ECANCELED, "ECANCELED"},
        {CSP_EBUSY, "EBUSY"},
        {CSP_EPERM, "EPERM"},
    };

    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        ASSERT_EQ(0, strcmp(names[i].name, csp_errname(names[i].rc)));
}

TEST(errname_of_unknown_code_is_unknown)
{
    ASSERT_EQ(0, strcmp("UNKNOWN", csp_errname(-9999)));
    ASSERT_EQ(0, strcmp("UNKNOWN", csp_errname(42)));
}

TEST(strerror_gives_distinct_sentences)
{
    int codes[] = {CSP_OK,        CSP_PENDING, CSP_REDUCED, CSP_EINVAL,
                   CSP_ENOMEM,    CSP_ECLOSED, CSP_EAGAIN,  CSP_ETIMEDOUT,
                   CSP_ECANCELED, CSP_EBUSY,   CSP_EPERM};
    size_t n = sizeof codes / sizeof codes[0];

    for (size_t i = 0; i < n; i++) {
        ASSERT_NOT_NULL(csp_strerror(codes[i]));
        ASSERT_TRUE(strlen(csp_strerror(codes[i])) > 0);
        for (size_t j = 0; j < i; j++)
            ASSERT_NE(0,
                      strcmp(csp_strerror(codes[i]), csp_strerror(codes[j])));
    }
}

TEST(strerror_of_unknown_code_is_not_null)
{
    ASSERT_EQ(0, strcmp("unknown error", csp_strerror(-12345)));
}

TEST(version_matches_header)
{
    ASSERT_EQ(CSP_VERSION_NUMBER, csp_version());
    ASSERT_EQ(CSP_VERSION_MAJOR * 10000 + CSP_VERSION_MINOR * 100 +
                  CSP_VERSION_PATCH,
              csp_version());
}
