/*
 * test_libcurl.c - libcurl's easy API as an FTP client of the real
 * relayftpd (named by $RELAYFTPD).
 *
 * The program sets up its own server: a temp folder (mkdtemp), an argon2id
 * hash from `relayftpd passwd`, relayftpd.ini and users.ini, then fork/exec
 * of the binary with stdout on a pipe, from which it reads "listening on
 * 127.0.0.1:PORT". The tests upload and download from memory, create
 * folders, resume an upload that was aborted from the read callback,
 * resume a download, list names, send QUOTE commands and try a wrong
 * password. The last test stops the server with SIGTERM and requires a
 * clean exit. Every wait is bounded.
 *
 * With RFTP_TLS=1 (ctest runs it both ways) the same battery runs under
 * FTPS: the server gets a fresh self-signed certificate (openssl CLI) and
 * requires TLS for logins and data, and libcurl uses AUTH TLS, PROT P and
 * verifies the certificate against it (CURLOPT_CAINFO).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define USER           "alice"
#define PASSWORD       "alice-pw"
#define PARTIAL_PREFIX ".rftpd-partial."
#define MB             (1024u * 1024u)

static char tmpdir[PATH_MAX];
static char homedir[PATH_MAX + 16];
static char logpath[PATH_MAX + 16];
static pid_t server_pid = -1;
static int server_port;
static int server_stdout = -1; /* read end of the server's stdout */
static int curl_ready;
static int use_tls; /* RFTP_TLS=1: everything under AUTH TLS + PROT P */
static char certpath[PATH_MAX + 16];

/* ---- small helpers ---- */

static double
now_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void
nap_ms(long ms)
{
	struct timespec t;

	t.tv_sec = ms / 1000;
	t.tv_nsec = (ms % 1000) * 1000000L;
	nanosleep(&t, NULL);
}

/* Deterministic bytes: xorshift64. */
static void
fill_random(unsigned char *p, size_t n, uint64_t seed)
{
	uint64_t x = seed | 1;

	for (size_t i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		p[i] = (unsigned char)(x >> 24);
	}
}

static void
home_path(char *out, size_t outlen, const char *rel)
{
	int n = snprintf(out, outlen, "%s/%s", homedir, rel);

	assert_true(n > 0 && (size_t)n < outlen);
}

/* Reads a whole file; *len gets its size. NULL if it does not exist. */
static unsigned char *
slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	unsigned char *p;
	long n;

	if (f == NULL)
		return NULL;
	if (fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 ||
	    fseek(f, 0, SEEK_SET) != 0) {
		fclose(f);
		return NULL;
	}
	p = malloc((size_t)n + 1);
	if (p == NULL || fread(p, 1, (size_t)n, f) != (size_t)n) {
		free(p);
		fclose(f);
		return NULL;
	}
	fclose(f);
	*len = (size_t)n;
	return p;
}

static int
file_exists(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0;
}

static void
assert_file_equals(const char *rel, const unsigned char *want, size_t len)
{
	char path[PATH_MAX * 2];
	unsigned char *got;
	size_t glen = 0;

	home_path(path, sizeof(path), rel);
	got = slurp(path, &glen);
	assert_non_null(got);
	assert_int_equal(glen, len);
	assert_memory_equal(got, want, len);
	free(got);
}

static int
write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	if (f == NULL)
		return -1;
	if (fputs(text, f) == EOF) {
		fclose(f);
		return -1;
	}
	return fclose(f) == 0 ? 0 : -1;
}

static int
log_contains(const char *needle)
{
	size_t len = 0;
	unsigned char *log = slurp(logpath, &len);
	int found;

	if (log == NULL)
		return 0;
	log[len] = '\0';
	found = strstr((char *)log, needle) != NULL;
	free(log);
	return found;
}

/* Polls the server log for needle for up to timeout_s seconds. */
static int
wait_log(const char *needle, double timeout_s)
{
	double deadline = now_s() + timeout_s;

	for (int i = 0; i < 100000; i++) {
		if (log_contains(needle))
			return 1;
		if (now_s() > deadline)
			return 0;
		nap_ms(20);
	}
	return 0;
}

static void
print_log_tail(void)
{
	size_t len = 0;
	unsigned char *log = slurp(logpath, &len);

	if (log == NULL)
		return;
	log[len] = '\0';
	fprintf(stderr, "---- server log ----\n%s\n----\n",
	    len > 12000 ? (char *)log + len - 12000 : (char *)log);
	free(log);
}

/* ---- libcurl plumbing ---- */

struct source {
	const unsigned char *data;
	size_t len;
	size_t pos;
	size_t abort_at; /* return CURL_READFUNC_ABORT once pos reaches it */
};

static size_t
read_cb(char *buf, size_t size, size_t nmemb, void *userp)
{
	struct source *src = userp;
	size_t room = size * nmemb, n;

	if (src->abort_at > 0 && src->pos >= src->abort_at)
		return CURL_READFUNC_ABORT;
	n = src->len - src->pos;
	if (src->abort_at > 0 && src->abort_at - src->pos < n)
		n = src->abort_at - src->pos;
	if (n > room)
		n = room;
	memcpy(buf, src->data + src->pos, n);
	src->pos += n;
	return n;
}

/* libcurl seeks the source itself when resuming an upload. */
static int
seek_cb(void *userp, curl_off_t offset, int origin)
{
	struct source *src = userp;

	if (origin != SEEK_SET || offset < 0 || (size_t)offset > src->len)
		return CURL_SEEKFUNC_FAIL;
	src->pos = (size_t)offset;
	return CURL_SEEKFUNC_OK;
}

struct sink {
	unsigned char *data;
	size_t len;
	size_t cap;
};

static size_t
write_cb(char *ptr, size_t size, size_t nmemb, void *userp)
{
	struct sink *s = userp;
	size_t n = size * nmemb;

	if (s->len + n + 1 > s->cap) {
		size_t ncap = s->cap ? s->cap : 65536;
		unsigned char *p;

		while (ncap < s->len + n + 1)
			ncap *= 2;
		p = realloc(s->data, ncap);
		if (p == NULL)
			return 0;
		s->data = p;
		s->cap = ncap;
	}
	memcpy(s->data + s->len, ptr, n);
	s->len += n;
	s->data[s->len] = '\0';
	return n;
}

static void
sink_free(struct sink *s)
{
	free(s->data);
	s->data = NULL;
	s->len = 0;
	s->cap = 0;
}

static CURL *
easy_for(const char *path, const char *password)
{
	char url[512];
	CURL *c = curl_easy_init();

	assert_non_null(c);
	snprintf(url, sizeof(url), "ftp://127.0.0.1:%d%s", server_port, path);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_USERNAME, USER);
	curl_easy_setopt(c, CURLOPT_PASSWORD, password);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 10L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
	if (use_tls) {
		curl_easy_setopt(c, CURLOPT_USE_SSL, (long)CURLUSESSL_ALL);
		curl_easy_setopt(c, CURLOPT_CAINFO, certpath);
		curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
		curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
	}
	return c;
}

static CURLcode
upload(const char *path, struct source *src, curl_off_t resume_from, int append,
    long create_dirs)
{
	CURL *c = easy_for(path, PASSWORD);
	CURLcode rc;

	curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
	curl_easy_setopt(c, CURLOPT_READFUNCTION, read_cb);
	curl_easy_setopt(c, CURLOPT_READDATA, src);
	curl_easy_setopt(c, CURLOPT_SEEKFUNCTION, seek_cb);
	curl_easy_setopt(c, CURLOPT_SEEKDATA, src);
	/* With a resume offset libcurl wants the whole size and seeks the
	 * source; otherwise the size is what is left to send. */
	curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE,
	    (curl_off_t)(resume_from != 0 ? src->len : src->len - src->pos));
	if (getenv("RFTP_CURL_VERBOSE") != NULL)
		curl_easy_setopt(c, CURLOPT_VERBOSE, 1L);
	if (resume_from != 0)
		curl_easy_setopt(c, CURLOPT_RESUME_FROM_LARGE, resume_from);
	if (append)
		curl_easy_setopt(c, CURLOPT_APPEND, 1L);
	if (create_dirs)
		curl_easy_setopt(
		    c, CURLOPT_FTP_CREATE_MISSING_DIRS, create_dirs);
	rc = curl_easy_perform(c);
	curl_easy_cleanup(c);
	return rc;
}

static CURLcode
download(const char *path, struct sink *out, curl_off_t resume_from,
    long dirlistonly)
{
	CURL *c = easy_for(path, PASSWORD);
	CURLcode rc;

	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, write_cb);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
	if (resume_from != 0)
		curl_easy_setopt(c, CURLOPT_RESUME_FROM_LARGE, resume_from);
	if (dirlistonly)
		curl_easy_setopt(c, CURLOPT_DIRLISTONLY, 1L);
	rc = curl_easy_perform(c);
	curl_easy_cleanup(c);
	return rc;
}

/* ---- server lifecycle ---- */

static int
hash_password(char *out, size_t outlen)
{
	char cmd[128];
	FILE *p;
	size_t n;
	int st;

	/* popen is one-way; let the shell feed the password on stdin. */
	snprintf(cmd, sizeof(cmd),
	    "printf '%%s\\n' '" PASSWORD "' | \"$RELAYFTPD\" passwd");
	p = popen(cmd, "r");
	if (p == NULL)
		return -1;
	if (fgets(out, (int)outlen, p) == NULL)
		out[0] = '\0';
	st = pclose(p);
	n = strlen(out);
	while (n > 0 && (out[n - 1] == '\n' || out[n - 1] == '\r'))
		out[--n] = '\0';
	if (st != 0 || strncmp(out, "$argon2id$", 10) != 0)
		return -1;
	return 0;
}

/* Reads one line from fd within timeout_ms. */
static int
read_line_timeout(int fd, char *out, size_t outlen, int timeout_ms)
{
	double deadline = now_s() + timeout_ms / 1000.0;
	size_t len = 0;

	out[0] = '\0';
	while (len + 1 < outlen) {
		struct pollfd pf;
		int left = (int)((deadline - now_s()) * 1000.0);
		ssize_t n;

		if (left <= 0)
			return -1;
		pf.fd = fd;
		pf.events = POLLIN;
		pf.revents = 0;
		if (poll(&pf, 1, left) <= 0)
			continue;
		n = read(fd, out + len, 1);
		if (n <= 0)
			return -1;
		if (out[len] == '\n') {
			out[len] = '\0';
			return 0;
		}
		out[++len] = '\0';
	}
	return -1;
}

static int
rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

/* Sends SIGTERM and waits up to timeout_s; returns the wait status or -1. */
static int
stop_server(double timeout_s)
{
	double deadline = now_s() + timeout_s;
	int status = 0;

	if (server_pid <= 0)
		return -1;
	kill(server_pid, SIGTERM);
	for (int i = 0; i < 100000; i++) {
		pid_t r = waitpid(server_pid, &status, WNOHANG);

		if (r == server_pid) {
			server_pid = -1;
			return status;
		}
		if (r < 0 || now_s() > deadline)
			break;
		nap_ms(10);
	}
	kill(server_pid, SIGKILL);
	waitpid(server_pid, &status, 0);
	server_pid = -1;
	return -1;
}

/* Stops a server still running and removes the temp folder; safe to call
 * more than once. */
static void
cleanup_all(void)
{
	if (server_pid > 0)
		stop_server(5);
	if (server_stdout >= 0)
		close(server_stdout);
	server_stdout = -1;
	if (curl_ready)
		curl_global_cleanup();
	curl_ready = 0;
	if (tmpdir[0] != '\0')
		nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	tmpdir[0] = '\0';
}

static int
setup_failed(const char *what)
{
	fprintf(stderr, "setup failed: %s (%s)\n", what, strerror(errno));
	cleanup_all();
	return -1;
}

static int
group_teardown(void **state)
{
	(void)state;
	cleanup_all();
	return 0;
}

static int
group_setup(void **state)
{
	const char *binary = getenv("RELAYFTPD");
	char hash[256], cfg[PATH_MAX + 32], users[PATH_MAX + 32];
	char text[PATH_MAX * 2 + 512], line[256];
	int out[2], logfd;
	pid_t pid;

	(void)state;
	if (binary == NULL || binary[0] == '\0') {
		fprintf(stderr, "RELAYFTPD is not set\n");
		return -1;
	}
	line[0] = '\0';
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/rftp-libcurl-XXXXXX");
	if (mkdtemp(tmpdir) == NULL) {
		tmpdir[0] = '\0';
		return setup_failed("mkdtemp");
	}
	snprintf(homedir, sizeof(homedir), "%s/home", tmpdir);
	snprintf(logpath, sizeof(logpath), "%s/server.log", tmpdir);
	snprintf(cfg, sizeof(cfg), "%s/relayftpd.ini", tmpdir);
	snprintf(users, sizeof(users), "%s/users.ini", tmpdir);
	if (hash_password(hash, sizeof(hash)) < 0)
		return setup_failed("relayftpd passwd");
	snprintf(text, sizeof(text), "[" USER "]\npassword = %s\nhome = %s\n",
	    hash, homedir);
	if (write_text(users, text) < 0)
		return setup_failed(users);
	/* libcurl aborting an upload closes the data socket, then the
	 * control socket; the server waits upload_close_grace_ms after the
	 * data FIN for the control FIN. 50 ms instead of the default 5 keeps
	 * the abort tests independent of how busy the machine is. */
	snprintf(text, sizeof(text),
	    "[server]\nlisten = 127.0.0.1:0\nusers_file = %s\n"
	    "login_fail_delay_ms = 100\nidle_timeout = 30\n"
	    "data_timeout = 10\nupload_close_grace_ms = 50\n",
	    users);
	use_tls =
	    getenv("RFTP_TLS") != NULL && strcmp(getenv("RFTP_TLS"), "1") == 0;
	if (use_tls) {
		char cmd[PATH_MAX * 3 + 256], keypath[PATH_MAX + 16];
		size_t n = strlen(text);

		snprintf(certpath, sizeof(certpath), "%s/cert.pem", tmpdir);
		snprintf(keypath, sizeof(keypath), "%s/key.pem", tmpdir);
		snprintf(cmd, sizeof(cmd),
		    "timeout 60 openssl req -x509 -newkey rsa:2048 -nodes "
		    "-keyout '%s' -out '%s' -days 2 -subj /CN=127.0.0.1 "
		    "-addext subjectAltName=IP:127.0.0.1 >/dev/null 2>&1",
		    keypath, certpath);
		if (system(cmd) != 0)
			return setup_failed("openssl req");
		snprintf(text + n, sizeof(text) - n,
		    "[tls]\ncert = %s\nkey = %s\nrequire_login_tls = on\n"
		    "require_data_tls = on\n",
		    certpath, keypath);
	}
	if (write_text(cfg, text) < 0)
		return setup_failed(cfg);
	if (pipe(out) < 0)
		return setup_failed("pipe");
	logfd = open(logpath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (logfd < 0) {
		close(out[0]);
		close(out[1]);
		return setup_failed(logpath);
	}
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		close(out[0]);
		close(out[1]);
		close(logfd);
		return setup_failed("fork");
	}
	if (pid == 0) {
		dup2(out[1], STDOUT_FILENO);
		dup2(logfd, STDERR_FILENO);
		close(out[0]);
		close(out[1]);
		execl(binary, binary, "--config", cfg, (char *)NULL);
		_exit(127);
	}
	close(out[1]);
	close(logfd);
	server_pid = pid;
	server_stdout = out[0];
	if (read_line_timeout(out[0], line, sizeof(line), 15000) < 0 ||
	    sscanf(line, "listening on 127.0.0.1:%d", &server_port) != 1 ||
	    server_port <= 0) {
		fprintf(stderr, "server did not start: '%s'\n", line);
		print_log_tail();
		return setup_failed("server start");
	}
	/* The read end stays open until the server is gone, so a later line
	 * on its stdout never meets a closed pipe. */
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return setup_failed("curl_global_init");
	curl_ready = 1;
	return 0;
}

/* ---- the tests ---- */

static void
test_upload_download_memory(void **state)
{
	size_t len = 3 * MB + 101;
	unsigned char *data = malloc(len);
	struct source src = { 0 };
	struct sink back = { 0 };

	(void)state;
	assert_non_null(data);
	fill_random(data, len, 1);
	src.data = data;
	src.len = len;
	assert_int_equal(upload("/mem.bin", &src, 0, 0, 0), CURLE_OK);
	assert_int_equal(src.pos, len);
	assert_file_equals("mem.bin", data, len);
	assert_int_equal(download("/mem.bin", &back, 0, 0), CURLE_OK);
	assert_int_equal(back.len, len);
	assert_memory_equal(back.data, data, len);
	sink_free(&back);
	free(data);
}

static void
test_create_missing_dirs(void **state)
{
	size_t len = 70000;
	unsigned char *data = malloc(len);
	struct source src = { 0 };
	struct sink back = { 0 };
	char path[PATH_MAX * 2];

	(void)state;
	assert_non_null(data);
	fill_random(data, len, 2);
	src.data = data;
	src.len = len;
	/* Without the option the missing folder is an error. */
	assert_int_not_equal(upload("/no/such/f.bin", &src, 0, 0, 0), CURLE_OK);
	home_path(path, sizeof(path), "no");
	assert_false(file_exists(path));
	src.pos = 0;
	assert_int_equal(upload("/one/two/three/f.bin", &src, 0, 0,
	                     (long)CURLFTP_CREATE_DIR),
	    CURLE_OK);
	assert_file_equals("one/two/three/f.bin", data, len);
	assert_int_equal(
	    download("/one/two/three/f.bin", &back, 0, 0), CURLE_OK);
	assert_int_equal(back.len, len);
	assert_memory_equal(back.data, data, len);
	sink_free(&back);
	free(data);
}

/* Uploads data to name, aborting from the read callback after cut bytes.
 * The final name must not appear; the partial holds what arrived. Returns
 * the partial's size. */
static size_t
aborted_upload(
    const char *name, const unsigned char *data, size_t len, size_t cut)
{
	char upath[256], final[PATH_MAX * 2], partial[PATH_MAX * 2];
	char marker[300], leaf[256], done[320];
	struct source src = { 0 };
	unsigned char *got;
	size_t glen = 0;
	CURLcode rc;

	snprintf(upath, sizeof(upath), "/%s", name);
	snprintf(leaf, sizeof(leaf), PARTIAL_PREFIX "%s", name);
	home_path(final, sizeof(final), name);
	home_path(partial, sizeof(partial), leaf);
	snprintf(marker, sizeof(marker), "upload of /%s not complete", name);
	src.data = data;
	src.len = len;
	src.abort_at = cut;
	rc = upload(upath, &src, 0, 0, 0);
	assert_int_equal(rc, CURLE_ABORTED_BY_CALLBACK);
	snprintf(done, sizeof(done), "received /%s (%zu bytes, %zu total)",
	    name, cut, cut);
	if (use_tls && !wait_log(marker, 2) && wait_log(done, 1)) {
		/* libcurl ends an aborted transfer's TLS data connection
		 * with close_notify before it drops the control connection:
		 * a clean end of the stream, which the server takes as a
		 * complete upload when the control connection is still up
		 * at that moment (a busy machine). What is published must
		 * then be exactly what was sent; it is removed, and the
		 * resume starts from nothing. */
		got = slurp(final, &glen);
		assert_non_null(got);
		assert_int_equal(glen, cut);
		assert_memory_equal(got, data, glen);
		free(got);
		assert_int_equal(unlink(final), 0);
		return 0;
	}
	if (!wait_log(marker, 10)) {
		print_log_tail();
		fail_msg("the server did not keep the aborted upload of %s as "
		         "a partial (final name exists: %s)",
		    name, file_exists(final) ? "yes" : "no");
	}
	/* Bounded look: the aborted upload is never published. */
	for (int i = 0; i < 25; i++) {
		assert_false(file_exists(final));
		nap_ms(20);
	}
	/* The partial holds a prefix of what was sent: possibly nothing, when
	 * the server saw the control connection go before it read the data
	 * (then the buffered bytes are dropped, which is fine: SIZE tells a
	 * resuming client where to go on from). */
	got = slurp(partial, &glen);
	if (got == NULL || glen > cut) {
		print_log_tail();
		fail_msg("partial of %s: %s, %zu bytes (aborted after %zu)",
		    name, got == NULL ? "missing" : "present", glen, cut);
	}
	assert_memory_equal(got, data, glen);
	free(got);
	return glen;
}

static void
test_upload_resume_from(void **state)
{
	size_t len = 2 * MB + 333, have;
	unsigned char *data = malloc(len);
	struct source src = { 0 };
	char needle[200];

	(void)state;
	assert_non_null(data);
	fill_random(data, len, 3);
	have = aborted_upload("resume1.bin", data, len, MB + 7);
	/* Resume with the offset the client knows: libcurl seeks the source
	 * to it and continues with APPE. */
	src.data = data;
	src.len = len;
	assert_int_equal(
	    upload("/resume1.bin", &src, (curl_off_t)have, 0, 0), CURLE_OK);
	assert_file_equals("resume1.bin", data, len);
	snprintf(needle, sizeof(needle),
	    "received /resume1.bin (%zu bytes, %zu total)", len - have, len);
	assert_true(log_contains(needle));
	free(data);
}

static void
test_upload_resume_auto(void **state)
{
	size_t len = MB + 999, have;
	unsigned char *data = malloc(len);
	struct source src = { 0 };
	char needle[200];

	(void)state;
	assert_non_null(data);
	fill_random(data, len, 4);
	have = aborted_upload("resume2.bin", data, len, 400000);
	/* RESUME_FROM -1: libcurl asks SIZE, which reports the partial's
	 * bytes, and seeks the source itself. */
	src.data = data;
	src.len = len;
	assert_int_equal(
	    upload("/resume2.bin", &src, (curl_off_t)-1, 0, 0), CURLE_OK);
	assert_file_equals("resume2.bin", data, len);
	snprintf(needle, sizeof(needle),
	    "received /resume2.bin (%zu bytes, %zu total)", len - have, len);
	assert_true(log_contains(needle));
	free(data);
}

static void
test_upload_append(void **state)
{
	size_t len = MB + 12345, have;
	unsigned char *data = malloc(len);
	struct source src = { 0 };

	(void)state;
	assert_non_null(data);
	fill_random(data, len, 5);
	have = aborted_upload("resume3.bin", data, len, 500001);
	/* CURLOPT_APPEND: APPE continues the partial. */
	src.data = data;
	src.len = len;
	src.pos = have;
	assert_int_equal(upload("/resume3.bin", &src, 0, 1, 0), CURLE_OK);
	assert_file_equals("resume3.bin", data, len);
	free(data);
}

static void
test_download_resume(void **state)
{
	size_t len = 2 * MB + 17;
	unsigned char *data = malloc(len);
	struct source src = { 0 };
	const size_t offsets[] = { 1, 65536, MB + 3, 2 * MB + 16 };

	(void)state;
	assert_non_null(data);
	fill_random(data, len, 6);
	src.data = data;
	src.len = len;
	assert_int_equal(upload("/dl.bin", &src, 0, 0, 0), CURLE_OK);
	for (size_t i = 0; i < sizeof(offsets) / sizeof(offsets[0]); i++) {
		struct sink tail = { 0 };

		assert_int_equal(
		    download("/dl.bin", &tail, (curl_off_t)offsets[i], 0),
		    CURLE_OK);
		assert_int_equal(tail.len, len - offsets[i]);
		assert_memory_equal(tail.data, data + offsets[i], tail.len);
		sink_free(&tail);
	}
	free(data);
}

/* True if the newline-separated list holds exactly the line name. */
static int
has_line(const char *list, const char *name)
{
	size_t n = strlen(name);
	const char *p = list;

	for (int i = 0; i < 100000 && p != NULL && *p != '\0'; i++) {
		const char *nl = strchr(p, '\n');
		size_t l = nl != NULL ? (size_t)(nl - p) : strlen(p);

		if (l > 0 && p[l - 1] == '\r')
			l--;
		if (l == n && memcmp(p, name, n) == 0)
			return 1;
		p = nl != NULL ? nl + 1 : NULL;
	}
	return 0;
}

static size_t
count_lines(const char *list)
{
	size_t n = 0;

	for (const char *p = list; *p != '\0'; p++)
		if (*p == '\n')
			n++;
	return n;
}

static void
test_dirlistonly(void **state)
{
	const char *names[] = { "a.txt", "b c.txt", "caf\xc3\xa9.txt" };
	struct sink list = { 0 };
	char path[PATH_MAX * 2], dir[PATH_MAX * 2];
	unsigned char one = 'x';

	(void)state;
	home_path(dir, sizeof(dir), "listme");
	assert_int_equal(mkdir(dir, 0755), 0);
	home_path(dir, sizeof(dir), "listme/sub");
	assert_int_equal(mkdir(dir, 0755), 0);
	for (size_t i = 0; i < 3; i++) {
		struct source src = { &one, 1, 0, 0 };
		char up[300];

		snprintf(up, sizeof(up), "/listme/%s", names[i]);
		/* libcurl wants the URL percent-encoded. */
		if (i == 1)
			snprintf(up, sizeof(up), "/listme/b%%20c.txt");
		if (i == 2)
			snprintf(up, sizeof(up), "/listme/caf%%C3%%A9.txt");
		assert_int_equal(upload(up, &src, 0, 0, 0), CURLE_OK);
		home_path(path, sizeof(path), "listme");
		strncat(path, "/", sizeof(path) - strlen(path) - 1);
		strncat(path, names[i], sizeof(path) - strlen(path) - 1);
		assert_true(file_exists(path));
	}
	assert_int_equal(download("/listme/", &list, 0, 1), CURLE_OK);
	assert_non_null(list.data);
	for (size_t i = 0; i < 3; i++)
		assert_true(has_line((char *)list.data, names[i]));
	assert_true(has_line((char *)list.data, "sub"));
	assert_int_equal(count_lines((char *)list.data), 4);
	sink_free(&list);
}

static void
test_wrong_password(void **state)
{
	CURL *c = easy_for("/", "not-the-password");
	struct sink out = { 0 };

	(void)state;
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, write_cb);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &out);
	assert_int_equal(curl_easy_perform(c), CURLE_LOGIN_DENIED);
	curl_easy_cleanup(c);
	sink_free(&out);
}

static void
test_quote_dele(void **state)
{
	unsigned char body[] = "delete me";
	struct source src = { body, sizeof(body) - 1, 0, 0 };
	struct curl_slist *quote = NULL;
	struct sink list = { 0 };
	char path[PATH_MAX * 2];
	CURL *c;

	(void)state;
	assert_int_equal(upload("/gone.txt", &src, 0, 0, 0), CURLE_OK);
	home_path(path, sizeof(path), "gone.txt");
	assert_true(file_exists(path));
	quote = curl_slist_append(quote, "DELE gone.txt");
	c = easy_for("/", PASSWORD);
	curl_easy_setopt(c, CURLOPT_QUOTE, quote);
	curl_easy_setopt(c, CURLOPT_DIRLISTONLY, 1L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, write_cb);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &list);
	assert_int_equal(curl_easy_perform(c), CURLE_OK);
	curl_easy_cleanup(c);
	assert_false(file_exists(path));
	assert_false(has_line(list.data ? (char *)list.data : "", "gone.txt"));
	sink_free(&list);
	/* Deleting it again: the server's 550 fails the QUOTE. */
	c = easy_for("/", PASSWORD);
	curl_easy_setopt(c, CURLOPT_QUOTE, quote);
	curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
	assert_int_equal(curl_easy_perform(c), CURLE_QUOTE_ERROR);
	curl_easy_cleanup(c);
	curl_slist_free_all(quote);
}

static void
test_no_partials_left(void **state)
{
	char path[PATH_MAX * 2], leaf[64];
	const char *names[] = { "resume1.bin", "resume2.bin", "resume3.bin" };

	(void)state;
	for (size_t i = 0; i < 3; i++) {
		snprintf(leaf, sizeof(leaf), PARTIAL_PREFIX "%s", names[i]);
		home_path(path, sizeof(path), leaf);
		assert_false(file_exists(path));
	}
}

static void
test_server_stops_cleanly(void **state)
{
	int status;

	(void)state;
	status = stop_server(15);
	assert_int_not_equal(status, -1);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_upload_download_memory),
		cmocka_unit_test(test_create_missing_dirs),
		cmocka_unit_test(test_upload_resume_from),
		cmocka_unit_test(test_upload_resume_auto),
		cmocka_unit_test(test_upload_append),
		cmocka_unit_test(test_download_resume),
		cmocka_unit_test(test_dirlistonly),
		cmocka_unit_test(test_wrong_password),
		cmocka_unit_test(test_quote_dele),
		cmocka_unit_test(test_no_partials_left),
		cmocka_unit_test(test_server_stops_cleanly),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
