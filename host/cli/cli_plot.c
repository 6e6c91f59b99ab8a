/* cli_plot.c - `simjoin sweep --plot`: scripts/plot_sweep.py draws a sweep's
 * JSON as a PNG, through Debian's python3-matplotlib. */
#define _POSIX_C_SOURCE 200809L
#include "cli/cli.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* plot_sweep.py: $SIMJOIN_PLOT_SCRIPT, else where cli_find_script finds it. */
static const char *plot_script(char *buf, size_t size)
{
    const char *env = getenv("SIMJOIN_PLOT_SCRIPT");
    return env ? env : cli_find_script("plot_sweep.py", buf, size);
}

/* Run scripts/plot_sweep.py on the JSON to make the PNG; the script writes
 * into our 0640 temporary file (as its descriptor 3), renamed into place
 * when it succeeds. */
sj_status cli_plot_sweep(const char *json, const char *png)
{
    char path[4096];
    const char *script = plot_script(path, sizeof path);
    const char *py = access("/usr/bin/python3", X_OK) == 0 ? "/usr/bin/python3" : "python3";
    sj_atomic_file af;
    sj_status st = sj_atomic_begin(&af, png);
    if (st)
        return st;
    const char *fd3 = access("/dev/fd/0", F_OK) == 0 ? "/dev/fd/3" : "/proc/self/fd/3";
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        sj_atomic_abort(&af);
        return sj_fail(SJ_ERR_IO, "--plot: cannot start python: %s", strerror(errno));
    }
    if (pid == 0) { /* the script writes through our descriptor, never by the temp name */
        if (af.fd == 3 ? fcntl(3, F_SETFD, 0) < 0 : dup2(af.fd, 3) < 0) /* dup2 clears CLOEXEC */
            _exit(127);
        execlp(py, py, script, json, fd3, (char *)NULL);
        _exit(127);
    }
    int status;
    waitpid(pid, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        sj_atomic_abort(&af);
        return sj_fail(SJ_ERR_IO, "--plot: %s %s failed (exit %d); is python3-matplotlib installed?",
                       py, script, WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    }
    return sj_atomic_commit(&af);
}

