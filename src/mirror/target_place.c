/*
 * target_place.c - where a target's files go, and the word when that
 * changed since the last run.
 *
 * Owns: a target's place as the queue records it (queue_target_place):
 * its URL without the login (a password change is the same place), the
 * s3 endpoint, the layout. The queue's records of what was pushed hold
 * for one place: a url changed to another server or folder while files
 * were on record had the start-up walk take them for pushed there, and
 * they never reached the new place, without a word (found from outside:
 * an ftp target changed to sftp). Must not push, walk homes or change
 * what the queue says was pushed: it compares and warns.
 */
#include "mirror/target_place.h"

#include "common/log.h"
#include "mirror/mirror_int.h"

#include <stdio.h>
#include <string.h>

/*
 * Cuts the '/'s that end the folder of url (without its login; what
 * follows a blank, as in a place, stays): the ftp, sftp and s3
 * transports cut them too, so "ftp://h/base/" pushes where "ftp://h/base"
 * did, and an admin who added one was told the target had moved (found
 * from outside). A webhook's URL is sent as written: its '/' is kept.
 */
static void
place_trim_folder(char *url)
{
	char *host = strstr(url, "://"), *path, *end, *cut;

	if (host == NULL || strncmp(url, "http", 4) == 0)
		return;
	path = strchr(host + 3, '/');
	if (path == NULL)
		return;
	end = path + strcspn(path, " ");
	for (cut = end; cut > path && cut[-1] == '/'; cut--)
		;
	memmove(cut, end, strlen(end) + 1);
}

/*
 * The account t logs in as where the folders pushed to are the account's:
 * an FTP server roots each user in a folder of its own (its paths start
 * there), and so does sftp's "/~". Another account there is another
 * place: the admin who moved a target to a new account was told nothing,
 * and the files pushed before never reached it (found from outside). ""
 * where the place does not hang on it (sftp's absolute paths, s3,
 * webhooks), or the url names no user.
 */
static const char *
place_login(const struct target_config *t, char *buf, size_t buflen)
{
	const char *host = strstr(t->url, "://"), *path, *at = NULL;
	size_t auth, n;

	if (host == NULL)
		return "";
	host += 3;
	auth = strcspn(host, "/?#");
	path = host + auth;
	if (strncmp(t->url, "ftp://", 6) != 0 &&
	    strncmp(t->url, "ftps://", 7) != 0 &&
	    (strncmp(t->url, "sftp://", 7) != 0 || strncmp(path, "/~", 2) != 0))
		return "";
	if (t->user[0] != '\0')
		return t->user;
	for (size_t i = auth; i-- > 0 && at == NULL;)
		if (host[i] == '@')
			at = host + i;
	if (at == NULL)
		return "";
	n = strcspn(host, ":@");
	if (n >= buflen)
		n = buflen - 1;
	memcpy(buf, host, n);
	buf[n] = '\0';
	return buf;
}

/* target_place's room: the url, endpoint and login, and the words. */
#define TARGET_PLACE_MAX                                    \
	(sizeof(((struct target_config *)0)->url) +         \
	    sizeof(((struct target_config *)0)->endpoint) + \
	    sizeof(((struct target_config *)0)->user) + 32)

static void
target_place(const struct target_config *t, char *out, size_t outlen)
{
	char url[sizeof(t->url)], user[sizeof(t->user)];
	const char *login = place_login(t, user, sizeof(user));

	mirror_url_without_login(t->url, url, sizeof(url));
	place_trim_folder(url);
	snprintf(out, outlen, "%s%s%s%s%s%s", url,
	    t->endpoint[0] != '\0' ? " endpoint " : "", t->endpoint,
	    t->flat ? " layout flat" : "", login[0] != '\0' ? " user " : "",
	    login);
}

/* Whether was, a place recorded at an earlier start, is place: an older
 * server recorded the folder with its '/'s and no account. */
static int
same_place(char *was, const char *place)
{
	const char *as = strstr(place, " user ");

	place_trim_folder(was);
	if (strcmp(was, place) == 0)
		return 1;
	return as != NULL && strstr(was, " user ") == NULL &&
	    strlen(was) == (size_t)(as - place) &&
	    strncmp(was, place, (size_t)(as - place)) == 0;
}

void
target_place_warn_moved(
    struct mirror *m, const struct target_config *t, int64_t pushed)
{
	char place[TARGET_PLACE_MAX];
	char was[sizeof(place)];

	target_place(t, place, sizeof(place));
	/* Said with no file on record too: a push cut by a stop leaves
	 * its temporary copy at the old place, which no sweep here reaches
	 * (found from outside). Recorded by target_place_record: said at
	 * each start until one gets that far. */
	if (queue_target_place(m->q, t->name, was, sizeof(was)) != 1)
		return;
	if (!same_place(was, place))
		log_warn("mirror target %s: it pushed to %s when relayftpd "
		         "last ran and pushes to %s now: the %lld files pushed "
		         "before are not pushed again; 'relayftpd mirror "
		         "resync %s' lists the new place and sends what it "
		         "lacks (temporary copies, .rftpd-tmp.*, that pushes "
		         "cut by a stop left at the old place stay there)",
		    t->name, was, place, (long long)pushed, t->name);
}

void
target_place_forget_drops(struct queue *q, const struct target_config *t)
{
	char place[TARGET_PLACE_MAX];
	char was[sizeof(place)];

	target_place(t, place, sizeof(place));
	if (queue_target_place(q, t->name, was, sizeof(was)) != 1 ||
	    same_place(was, place))
		return;
	/* The verdicts were the old place's: kept, a file the new place
	 * takes (pure-ftpd's "blank " moved to a server that keeps the
	 * blank, a case twin moved to a share that tells case apart) was
	 * never sent there, resync saying "skipped" (found by a review). */
	if (queue_forget_dropped(q, t->name) < 0)
		log_err("mirror target %s: cannot forget the files dropped at "
		        "its old place: the start-up walk and resync skip them "
		        "until they change",
		    t->name);
}

void
target_place_record(struct mirror *m, const struct target_config *t)
{
	char place[TARGET_PLACE_MAX];

	/* Recorded only once the server is up: a start that failed before
	 * (its FTP port taken, an address not up yet at boot) recorded it
	 * all the same, and the start after it never said the files pushed
	 * before were not at the new place (found by a review). */
	target_place(t, place, sizeof(place));
	(void)queue_record_target_place(m->q, t->name, place);
}
