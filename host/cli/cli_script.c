/* cli_script.c - the Python scripts the CLI runs: where they are
 * (cli_find_script, for sweep --plot and bench --peers), and bench --peers'
 * runner: scripts/bench_peers.py in a benchmark venv's Python. */
#define _POSIX_C_SOURCE 200809L
#include "cli/cli.h"

#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef SIMJOIN_SOURCE_DIR
#define SIMJOIN_SOURCE_DIR "."
#endif

const char *cli_find_script(const char *name, char *buf, size_t size)
{
#ifdef SIMJOIN_REL_DATADIR
    char exe[2048];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = 0;
        char *slash = strrchr(exe, '/');
        if (slash) {
            *slash = 0; /* the binary's directory: PREFIX/BINDIR */
            snprintf(buf, size, "%s/../%s/%s", exe, SIMJOIN_REL_DATADIR, name);
            if (access(buf, R_OK) == 0)
                return buf;
        }
    }
#endif
    snprintf(buf, size, "%s/scripts/%s", SIMJOIN_SOURCE_DIR, name);
    return buf;
}

/* Run argv (no shell) with stdout into out[size] when out is given; the exit
 * status (127: it could not start), or -1 when fork failed. */
static int run_program(char *const *argv, char *out, size_t size)
{
    int fds[2] = {-1, -1};
    if (out && pipe(fds) < 0)
        return -1;
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        if (out && (dup2(fds[1], 1) < 0 || close(fds[0]) < 0))
            _exit(127);
        execvp(argv[0], argv);
        _exit(127);
    }
    size_t got = 0;
    if (out) {
        close(fds[1]);
        ssize_t n;
        while (pid > 0 && (n = read(fds[0], out + got, size - 1 - got)) > 0)
            got += (size_t)n;
        out[got] = 0;
        close(fds[0]);
    }
    int status;
    if (pid < 0 || waitpid(pid, &status, 0) < 0)
        return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* Prints "ok", or the modules in argv[1:] that do not import. */
static const char check_imports[] = "import sys\n"
                                    "missing = []\n"
                                    "for name in sys.argv[1:]:\n"
                                    "    try:\n"
                                    "        __import__(name)\n"
                                    "    except Exception:\n"
                                    "        missing.append(name)\n"
                                    "print(', '.join(missing) if missing else 'ok')\n";

/* EXIT_OK when py imports what bench_peers.py needs for kind, else the
 * error (naming the modules, and how to make the venv) and EXIT_RUNTIME. */
static int check_python(const char *py, const char *kind)
{
    const int pdq = strcmp(kind, "pdq") == 0; /* threadpoolctl: vector kinds only */
    char *argv[] = {(char *)py, "-c", (char *)check_imports, "faiss", "numpy", "h5py",
                    pdq ? NULL : "threadpoolctl", NULL};
    char out[512];
    int rc = run_program(argv, out, sizeof out);
    size_t len = strlen(out);
    while (len && out[len - 1] == '\n')
        out[--len] = 0;
    const char *last = strrchr(out, '\n') ? strrchr(out, '\n') + 1 : out; /* after what imports print */
    if (rc == 0 && strcmp(last, "ok") == 0)
        return EXIT_OK;
    if (rc == 0 && last[0])
        sj_fail(SJ_ERR_UNSUPPORTED, "bench --peers: %s cannot import %s", py, last);
    else
        sj_fail(SJ_ERR_UNSUPPORTED, "bench --peers: cannot run Python '%s' (%s)", py,
                rc == 127 ? "not found or not executable" : "it failed");
    cli_fail(SJ_ERR_UNSUPPORTED);
    fprintf(stderr, "  make a benchmark venv (never needed by the tests), then pass its python:\n"
                    "    python3 -m venv /tmp/bench && /tmp/bench/bin/pip install faiss-cpu numpy h5py threadpoolctl\n"
                    "    simjoin bench --peers --python /tmp/bench/bin/python ...  (or $SIMJOIN_BENCH_PYTHON)\n");
    return EXIT_RUNTIME;
}

int cli_bench_peers_wanted(int argc, char **argv)
{
    for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++)
        if (strcmp(argv[i], "--peers") == 0)
            return 1;
    return 0;
}

/* Where to run: the script, the Python (checked), this binary and the TE
 * scanner (NULL when absent or not pdq); an exit code. */
typedef struct peers_run {
    const char *script, *py, *te_scanner;
    char script_buf[4096], exe[4096], te_buf[4096];
} peers_run;

static int peers_locate(peers_run *r, const char *python, const char *te_scanner, const char *kind)
{
    r->script = getenv("SIMJOIN_BENCH_PEERS_SCRIPT");
    if (!r->script || !*r->script)
        r->script = cli_find_script("bench_peers.py", r->script_buf, sizeof r->script_buf);
    if (access(r->script, R_OK) != 0)
        return cli_fail(sj_fail(SJ_ERR_IO, "bench --peers: cannot read %s: %s (install simjoin with its "
                                           "share/simjoin/ scripts, or set $SIMJOIN_BENCH_PEERS_SCRIPT)",
                                r->script, strerror(errno)));
    r->py = python ? python : getenv("SIMJOIN_BENCH_PYTHON");
    if (!r->py || !*r->py)
        r->py = "python3";
    int rc = check_python(r->py, kind);
    if (rc)
        return rc;
    if (!te_scanner || !*te_scanner)
        te_scanner = getenv("SIMJOIN_TE_SCANNER");
    if (!te_scanner || !*te_scanner)
        te_scanner = NULL;
    struct stat sb;
    if (te_scanner && stat(te_scanner, &sb) == 0 && S_ISDIR(sb.st_mode)) {
        snprintf(r->te_buf, sizeof r->te_buf, "%s/te_flat_driver", te_scanner); /* build_te_scanner.sh's folder */
        te_scanner = r->te_buf;
    }
    if (te_scanner && access(te_scanner, X_OK) != 0)
        return cli_fail(sj_fail(SJ_ERR_IO, "bench --peers: TE scanner %s: %s (build it with "
                                           "scripts/build_te_scanner.sh DIR)", te_scanner, strerror(errno)));
    const int pdq = strcmp(kind, "pdq") == 0;
    r->te_scanner = pdq ? te_scanner : NULL; /* ThreatExchange's flat scanner: PDQ only */
    if (pdq && !te_scanner)
        printf("simjoin bench --peers: ThreatExchange flat scanner absent (build it with\n"
               "  scripts/build_te_scanner.sh DIR, then --te-scanner DIR or $SIMJOIN_TE_SCANNER)\n");
    ssize_t n = readlink("/proc/self/exe", r->exe, sizeof r->exe - 1);
    if (n <= 0)
        return cli_fail(sj_fail(SJ_ERR_IO, "bench --peers: cannot find this binary: %s", strerror(errno)));
    r->exe[n] = 0;
    return EXIT_OK;
}

int cli_bench_peers(int argc, char **argv, void (*help)(void))
{
    /* Passed through to bench_peers.py (its options of the same names), as
     * given; it checks them too. */
    static const struct option opts[] = {
        {"kind", required_argument, 0, 'k'},    {"metric", required_argument, 0, 'e'},
        {"corpus", required_argument, 0, 'n'},  {"queries", required_argument, 0, 'm'},
        {"threshold", required_argument, 0, 't'}, {"threads", required_argument, 0, 'j'},
        {"seed", required_argument, 0, 's'},    {"repeat", required_argument, 0, 'r'},
        {"python", required_argument, 0, 'y'},  {"te-scanner", required_argument, 0, 'T'},
        {"peers", no_argument, 0, 'P'},         {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0}};
    const char *kind = "pdq", *python = NULL, *te_scanner = NULL;
    /* py script simjoin [--name value]... --kind K [--te-scanner PATH] */
    char *args[48], names[16][16]; /* 3 + 2 x 16 + 4 + NULL */
    int n = 3, n_passed = 0, c, li = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, &li)) != -1) {
        int64_t v;
        double t;
        switch (c) {
        case 'k': kind = optarg; continue;
        case 'y': python = optarg; continue;
        case 'T': te_scanner = optarg; continue;
        case 'P': continue;
        case 'h': help(); return EXIT_OK;
        case 'n': case 'm': case 'j': case 'r':
            if (cli_parse_i64(optarg, &v) || v < 1)
                return cli_usage("bench", "bad value for --%s", opts[li].name);
            break;
        case 's':
            if (cli_parse_i64(optarg, &v))
                return cli_usage("bench", "bad value for --seed");
            break;
        case 't':
            if (cli_parse_f64(optarg, &t))
                return cli_usage("bench", "bad value for --threshold");
            break;
        case 'e': break;
        default:
            return cli_usage("bench", "--peers takes --kind, --metric, --corpus, --queries, --threshold, "
                                      "--threads, --seed, --repeat, --python, --te-scanner");
        }
        if (n_passed == 16)
            return cli_usage("bench", "--peers: too many options");
        snprintf(names[n_passed], sizeof names[0], "--%s", opts[li].name);
        args[n++] = names[n_passed++];
        args[n++] = optarg;
    }
    if (optind < argc)
        return cli_usage("bench", "unexpected argument '%s'", argv[optind]);
    sj_hash_type type;
    sj_status st = sj_hash_type_parse(kind, &type);
    if (st)
        return cli_fail(st);
    if (sj_hash_type_binary(type) && type.kind != SJ_KIND_PDQ)
        return cli_usage("bench", "--peers: --kind pdq, photodna, u8:D or f32:D");
    if (type.kind == SJ_KIND_PDQ)
        kind = "pdq"; /* as bench_peers.py spells it */
    peers_run r;
    int rc = peers_locate(&r, python, te_scanner, kind);
    if (rc)
        return rc;
    args[0] = (char *)r.py, args[1] = (char *)r.script, args[2] = r.exe;
    args[n++] = "--kind", args[n++] = (char *)kind;
    if (r.te_scanner)
        args[n++] = "--te-scanner", args[n++] = (char *)r.te_scanner;
    args[n] = NULL;
    rc = run_program(args, NULL, 0);
    if (rc == 0)
        return EXIT_OK;
    return cli_fail(sj_fail(SJ_ERR_IO, "bench --peers: %s %s failed (exit %d)", r.py, r.script, rc));
}
