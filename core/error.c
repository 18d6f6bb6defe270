/* error.c - result code names and messages, and the library version. */
#include "csp.h"

int csp_version(void) { return CSP_VERSION_NUMBER; }

const char *csp_strerror(int rc)
{
    switch (rc) {
    case CSP_OK: return "success";
    case CSP_PENDING: return "pending: the callback will run";
    case CSP_REDUCED: return "reduced: the transform stopped early";
    case CSP_EINVAL: return "invalid argument";
    case CSP_ENOMEM: return "out of memory";
    case CSP_ECLOSED: return "channel closed";
    case CSP_EAGAIN: return "operation would wait";
    case CSP_ETIMEDOUT: return "deadline passed";
    case CSP_ECANCELED: return "operation canceled";
    case CSP_EBUSY: return "too many pending operations or resource busy";
    case CSP_EPERM: return "not allowed in this context";
    default: return "unknown error";
    }
}

const char *csp_errname(int rc)
{
    switch (rc) {
    case CSP_OK: return "OK";
    case CSP_PENDING: return "PENDING";
    case CSP_REDUCED: return "REDUCED";
    case CSP_EINVAL: return "EINVAL";
    case CSP_ENOMEM: return "ENOMEM";
    case CSP_ECLOSED: return "ECLOSED";
    case CSP_EAGAIN: return "EAGAIN";
    case CSP_ETIMEDOUT: return "ETIMEDOUT";
    case CSP_ECANCELED: return "ECANCELED";
    case CSP_EBUSY: return "EBUSY";
    case CSP_EPERM: return "EPERM";
    default: return "UNKNOWN";
    }
}
