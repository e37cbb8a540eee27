/*
 * test_s3xml.c - the readers of an S3 service's XML answers
 * (mirror/s3xml.h).
 *
 * Entities and character references decode, CDATA is taken as it is, a
 * text that does not fit is refused (never cut), a body cut short finds
 * nothing past its end, a namespace is seen where it is allowed, and a
 * ListMultipartUploads page gives its ids, markers and IsTruncated as
 * the S3 transport has read them.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/buf.h"
#include "mirror/s3xml.h"

#include <stdlib.h>
#include <string.h>

/* Longer than any room the S3 transport reads a field into. */
#define N 100000

/* s3xml_text of a NUL-terminated s into out[64]: its return. */
static int
text_of(const char *s, char out[64])
{
	return s3xml_text(s, strlen(s), out, 64);
}

static void
test_entities_and_charrefs(void **state)
{
	char out[64];

	(void)state;
	assert_int_equal(text_of("a&amp;b&lt;c&gt;d&quot;e&apos;f", out), 0);
	assert_string_equal(out, "a&b<c>d\"e'f");
	/* s3rver writes ' as &#x27;, MinIO as &#39;. */
	assert_int_equal(text_of("it&#x27;s&#39;", out), 0);
	assert_string_equal(out, "it's'");
	/* Two, three and four UTF-8 bytes; upper-case hex. */
	assert_int_equal(text_of("&#xE9;&#x20AC;&#X1F600;", out), 0);
	assert_string_equal(out, "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80");
	/* The last code point; past it, a surrogate, 0, no digits, no ';',
	 * too many digits: each '&' taken as it is. */
	assert_int_equal(text_of("&#x10FFFF;", out), 0);
	assert_string_equal(out, "\xf4\x8f\xbf\xbf");
	assert_int_equal(text_of("&#x110000;&#xD800;&#0;&#;&#12&#x", out), 0);
	assert_string_equal(out, "&#x110000;&#xD800;&#0;&#;&#12&#x");
	assert_int_equal(text_of("&#000000065;", out), 0);
	assert_string_equal(out, "&#000000065;");
	assert_int_equal(text_of("&#0000065;", out), 0);
	assert_string_equal(out, "A");
	/* Unknown entities and a lone '&' stay; an entity cut at the end. */
	assert_int_equal(text_of("&nbsp;&&am", out), 0);
	assert_string_equal(out, "&nbsp;&&am");
	/* Decoded once: "&amp;lt;" is "&lt;", not "<". */
	assert_int_equal(text_of("&amp;lt;", out), 0);
	assert_string_equal(out, "&lt;");
}

static void
test_cdata(void **state)
{
	char out[64];

	(void)state;
	/* Its bytes as they are, entities and all, beside decoded text. */
	assert_int_equal(text_of("<![CDATA[a&amp;<b>]]>&amp;c", out), 0);
	assert_string_equal(out, "a&amp;<b>&c");
	assert_int_equal(text_of("<![CDATA[]]><![CDATA[x]]]]>", out), 0);
	assert_string_equal(out, "x]]");
	/* One not closed is taken as it is. */
	assert_int_equal(text_of("<![CDATA[id&amp;", out), 0);
	assert_string_equal(out, "<![CDATA[id&");
	assert_int_equal(text_of("<![CDAT", out), 0);
	assert_string_equal(out, "<![CDAT");
}

/* A text that does not fit is refused whole, at the exact boundary;
 * s3xml_text_dup reads one of any length. */
static void
test_huge_fields(void **state)
{
	char *big = malloc(N), *dup, small[8];

	(void)state;
	assert_non_null(big);
	memset(big, 'x', N);
	assert_int_equal(s3xml_text("1234567", 7, small, 8), 0);
	assert_string_equal(small, "1234567");
	assert_int_equal(s3xml_text("12345678", 8, small, 8), -1);
	assert_int_equal(s3xml_text("<![CDATA[12345678]]>", 20, small, 8), -1);
	assert_int_equal(s3xml_text("<![CDATA[1234567]]>", 19, small, 8), 0);
	assert_int_equal(s3xml_text("123456&#xE9;", 12, small, 8), -1);
	assert_int_equal(s3xml_text(big, N, small, sizeof(small)), -1);
	dup = s3xml_text_dup(big, N);
	assert_non_null(dup);
	assert_int_equal(strlen(dup), N);
	free(dup);
	/* The text is never longer than its bytes: a reference grows none. */
	dup = s3xml_text_dup("&#x10000;", 9);
	assert_non_null(dup);
	assert_string_equal(dup, "\xf0\x90\x80\x80");
	free(dup);
	free(big);
}

static void
test_find_and_cut_bodies(void **state)
{
	static const char body[] = "<R><Key>a</Key><Key>b</Key><Empty></Empty>"
	                           "<Cut>zz</Cu";
	const char *v, *after;
	size_t n;

	(void)state;
	v = s3xml_find(body, strlen(body), "Key", &n, &after);
	assert_non_null(v);
	assert_int_equal(n, 1);
	assert_memory_equal(v, "a", 1);
	v = s3xml_find(after, strlen(after), "Key", &n, &after);
	assert_non_null(v);
	assert_memory_equal(v, "b", 1);
	assert_null(s3xml_find(after, strlen(after), "Key", &n, NULL));
	v = s3xml_find(body, strlen(body), "Empty", &n, NULL);
	assert_non_null(v);
	assert_int_equal(n, 0);
	/* Not closed, or its close past the length given: not found. */
	assert_null(s3xml_find(body, strlen(body), "Cut", &n, NULL));
	assert_null(s3xml_find(body, 14, "Key", &n, NULL));
	assert_non_null(s3xml_find(body, 15, "Key", &n, NULL));
	assert_null(s3xml_find(body, 0, "Key", &n, NULL));
	/* "<Upload>" is not "<UploadId>". */
	assert_null(
	    s3xml_find("<UploadId>x</UploadId>", 22, "Upload", &n, NULL));
	/* A tag too long for its own open tag is never found. */
	assert_null(s3xml_find(body, strlen(body),
	    "KeyKeyKeyKeyKeyKeyKeyKeyKeyKeyKeyKeyKeyKeyKeyKeyKeyKeyKeyKeyKey",
	    &n, NULL));
}

/* An element opened with a namespace, or cut after it opened, counts for
 * s3xml_opens; a longer name beginning the same does not. */
static void
test_namespaces(void **state)
{
	static const char ns[] =
	    "<?xml version=\"1.0\"?>\n<Error xmlns=\"http://s3.amazonaws.com/"
	    "doc/2006-03-01/\"><Code>SlowDown</Code>";
	size_t n;

	(void)state;
	assert_int_equal(s3xml_opens(ns, strlen(ns), "Error"), 1);
	assert_int_equal(s3xml_opens("<Error>", 7, "Error"), 1);
	assert_int_equal(s3xml_opens("<Error/>", 8, "Error"), 1);
	assert_int_equal(s3xml_opens("<Error\n", 7, "Error"), 1);
	/* Cut right after the name: no byte says where it ends. */
	assert_int_equal(s3xml_opens("<Error", 6, "Error"), 0);
	assert_int_equal(s3xml_opens("<Errors>", 8, "Error"), 0);
	/* A NUL byte after the name (an answer's bytes are any bytes) is
	 * no end of a tag: strchr finds the terminator of its set. */
	assert_int_equal(s3xml_opens("<Error\0>", 8, "Error"), 0);
	assert_int_equal(s3xml_opens("</Error>", 8, "Error"), 0);
	assert_int_equal(s3xml_opens("", 0, "Error"), 0);
	assert_int_equal(s3xml_opens("<", 1, "Error"), 0);
	/* The elements inside are found without their parent's namespace;
	 * one with a namespace of its own is not (as S3 never writes). */
	assert_non_null(s3xml_find(ns, strlen(ns), "Code", &n, NULL));
}

/* An element's open tag with attributes or white space, its close tag
 * with white space, an empty element: XML allows them all (XML 1.0
 * section 3.1), and only "<tag>...</tag>" was found. */
static void
test_attributes_and_space(void **state)
{
	static const char quoted[] = "<Key a=\"x>y\" b='</Key>'>v</Key>";
	static const char cut[] = "<Key xmlns=\"x\">A</Key";
	const char *v, *after;
	size_t n;

	(void)state;
	v = s3xml_find("<Code xmlns=\"x\">A</Code>", 24, "Code", &n, NULL);
	assert_non_null(v);
	assert_int_equal(n, 1);
	assert_memory_equal(v, "A", 1);
	v = s3xml_find("<Key >k1</Key >", 15, "Key", &n, &after);
	assert_non_null(v);
	assert_int_equal(n, 2);
	assert_memory_equal(v, "k1", 2);
	assert_int_equal(*after, '\0');
	v = s3xml_find(
	    "<Key\n\txmlns='u'\r\n>k</Key\n>", 26, "Key", &n, &after);
	assert_non_null(v);
	assert_memory_equal(v, "k", 1);
	/* A quoted '>' (even a close tag) belongs to the attribute. */
	v = s3xml_find(quoted, strlen(quoted), "Key", &n, NULL);
	assert_non_null(v);
	assert_int_equal(n, 1);
	assert_memory_equal(v, "v", 1);
	/* Empty elements: text of no bytes, the next one found after. */
	v = s3xml_find(
	    "<Key/><Key a=\"1\" /><Key>z</Key>", 31, "Key", &n, &after);
	assert_non_null(v);
	assert_int_equal(n, 0);
	v = s3xml_find(after, strlen(after), "Key", &n, &after);
	assert_non_null(v);
	assert_int_equal(n, 0);
	v = s3xml_find(after, strlen(after), "Key", &n, &after);
	assert_non_null(v);
	assert_memory_equal(v, "z", 1);
	/* A longer name beginning the same is another element, opening or
	 * closing; the close tag is the first of this name. */
	v = s3xml_find(
	    "<KeyMarker>m</KeyMarker><Key>k</KeyX></Key>", 43, "Key", &n, NULL);
	assert_non_null(v);
	assert_int_equal(n, 8);
	assert_memory_equal(v, "k</KeyX>", 8);
	/* An open tag or close tag cut short: not found. */
	assert_null(s3xml_find("<Key xmlns=\"x>a</Key>", 21, "Key", &n, NULL));
	assert_null(s3xml_find(cut, strlen(cut), "Key", &n, NULL));
	assert_null(s3xml_find("<Key ", 5, "Key", &n, NULL));
	assert_null(s3xml_find("<Key>a</Key  ", 13, "Key", &n, NULL));
	/* A NUL after the name ends no tag. */
	assert_null(s3xml_find("<Key\0>a</Key>", 13, "Key", &n, NULL));
}

/* A namespace prefix on an element's name (XML Namespaces section 4,
 * QName: "<s3:Key>...</s3:Key>"), as a service that declares S3's
 * namespace under a prefix writes every element: its keys, ids and
 * IsTruncated were taken for none, and its <s3:Error> for no error. */
static void
test_prefixed_names(void **state)
{
	static const char page[] =
	    "<s3:ListMultipartUploadsResult xmlns:s3=\"http://s3.amazonaws."
	    "com/doc/2006-03-01/\"><s3:IsTruncated>false</s3:IsTruncated>"
	    "<s3:Upload><s3:Key>k</s3:Key><s3:UploadId>u1</s3:UploadId>"
	    "</s3:Upload><s3:Upload><s3:Key>k</s3:Key>"
	    "<s3:UploadId>u2</s3:UploadId></s3:Upload>"
	    "</s3:ListMultipartUploadsResult>";
	const char *v;
	char *km = NULL, *im = NULL;
	struct buf ids;
	size_t n;

	(void)state;
	v = s3xml_find("<s3:Key>a/b</s3:Key>", 20, "Key", &n, NULL);
	assert_non_null(v);
	assert_int_equal(n, 3);
	assert_memory_equal(v, "a/b", 3);
	v = s3xml_find("<a:Key x='1' >v</a:Key >", 24, "Key", &n, NULL);
	assert_non_null(v);
	assert_int_equal(n, 1);
	assert_memory_equal(v, "v", 1);
	assert_non_null(s3xml_find("<s3:Key/>", 9, "Key", &n, NULL));
	assert_int_equal(n, 0);
	/* The close tag is the one of the same prefix: another prefix's,
	 * or none, closes another element. */
	v = s3xml_find("<s3:Key>a</Key></x:Key></s3:Key>", 32, "Key", &n, NULL);
	assert_non_null(v);
	assert_int_equal(n, 15);
	assert_null(s3xml_find("<s3:Key>a</Key>", 15, "Key", &n, NULL));
	/* A longer local name, or a prefix alone, is not the element. */
	assert_null(
	    s3xml_find("<s3:KeyMarker>m</s3:KeyMarker>", 30, "Key", &n, NULL));
	assert_null(
	    s3xml_find("<Key:Marker>m</Key:Marker>", 26, "Key", &n, NULL));
	assert_null(s3xml_find("<s3:>m</s3:>", 12, "Key", &n, NULL));
	assert_null(s3xml_find("<:Key>m</:Key>", 14, "Key", &n, NULL));
	assert_null(s3xml_find("<s3:Key", 7, "Key", &n, NULL));
	assert_int_equal(s3xml_opens("<s3:Error><s3:Code>", 19, "Error"), 1);
	assert_int_equal(s3xml_opens("<s3:Errors>", 11, "Error"), 0);
	/* A prefix is a name: a comment, a processing instruction or a
	 * CDATA section is no element. */
	assert_int_equal(s3xml_opens("<!--c:Error>-->", 15, "Error"), 0);
	assert_int_equal(s3xml_opens("<?p:Error>", 10, "Error"), 0);
	assert_int_equal(s3xml_opens("<![CDATA[x:Error>]]>", 20, "Error"), 0);
	assert_int_equal(s3xml_opens("<1a:Error>", 10, "Error"), 0);
	assert_null(s3xml_find("<!--c:Key>v</c:Key>-->", 22, "Key", &n, NULL));
	assert_null(s3xml_find("<?p:Key>v</p:Key>", 17, "Key", &n, NULL));
	assert_int_equal(s3xml_opens("<_a.b-1:Error>", 14, "Error"), 1);
	v = s3xml_find("<\xc3\xa9:Key>v</\xc3\xa9:Key>", 18, "Key", &n, NULL);
	assert_non_null(v);
	assert_int_equal(n, 1);
	assert_int_equal(
	    s3xml_truncated("<s3:IsTruncated>true</s3:IsTruncated>", 37), 1);
	buf_init(&ids, 4096);
	assert_int_equal(s3xml_uploads_page(page, strlen(page), "k", "u2", 0, 0,
	                     &ids, &km, &im),
	    0);
	assert_int_equal(ids.len, 3);
	assert_string_equal(ids.data, "u1");
	buf_free(&ids);
	free(km);
	free(im);
}

static void
test_truncated_forms(void **state)
{
	(void)state;
	assert_int_equal(
	    s3xml_truncated("<IsTruncated>true</IsTruncated>", 31), 1);
	assert_int_equal(
	    s3xml_truncated("<IsTruncated>false</IsTruncated>", 32), 0);
	/* Any case, "1", white space around it, a namespace, CDATA: XML
	 * Schema's boolean (and "True", as some services write it). */
	assert_int_equal(
	    s3xml_truncated("<IsTruncated>True</IsTruncated>", 31), 1);
	assert_int_equal(
	    s3xml_truncated("<IsTruncated> true\n</IsTruncated>", 33), 1);
	assert_int_equal(
	    s3xml_truncated("<IsTruncated>TRUE</IsTruncated >", 32), 1);
	assert_int_equal(
	    s3xml_truncated("<IsTruncated>1</IsTruncated>", 28), 1);
	assert_int_equal(s3xml_truncated("<IsTruncated xmlns=\"x\">true"
	                                 "</IsTruncated>",
	                     41),
	    1);
	assert_int_equal(s3xml_truncated("<IsTruncated><![CDATA[true]]>"
	                                 "</IsTruncated>",
	                     43),
	    1);
	/* Anything else, none, or cut, is the list's end. */
	assert_int_equal(
	    s3xml_truncated("<IsTruncated>False</IsTruncated>", 32), 0);
	assert_int_equal(
	    s3xml_truncated("<IsTruncated>0</IsTruncated>", 28), 0);
	assert_int_equal(
	    s3xml_truncated("<IsTruncated>truex</IsTruncated>", 32), 0);
	assert_int_equal(
	    s3xml_truncated("<IsTruncated>t rue</IsTruncated>", 32), 0);
	assert_int_equal(s3xml_truncated("<IsTruncated></IsTruncated>", 27), 0);
	assert_int_equal(s3xml_truncated("<IsTruncated/>", 14), 0);
	assert_int_equal(s3xml_truncated("<IsTruncated>true", 17), 0);
	assert_int_equal(s3xml_truncated("", 0), 0);
	/* The first one counts. */
	assert_int_equal(s3xml_truncated("<IsTruncated>false</IsTruncated>"
	                                 "<IsTruncated>true</IsTruncated>",
	                     63),
	    0);
}

/* A ListMultipartUploads page: exactly key's ids but keep, entities
 * decoded, empty ids left out, markers read whole only when it goes on. */
static void
test_uploads_page(void **state)
{
	static const char page[] =
	    "<ListMultipartUploadsResult xmlns=\"x\">"
	    "<Upload><Key>a</Key><UploadId>id1</UploadId></Upload>"
	    "<Upload><Key>a1</Key><UploadId>other</UploadId></Upload>"
	    "<Upload><Key>a</Key><UploadId>keep</UploadId></Upload>"
	    "<Upload><Key>a</Key><UploadId></UploadId></Upload>"
	    "<Upload><Key>&#97;</Key><UploadId>i&amp;d<![CDATA[&]]>"
	    "</UploadId></Upload>"
	    "<Upload><UploadId>nokey</UploadId></Upload>"
	    "<IsTruncated>true</IsTruncated>"
	    "<NextKeyMarker>a&lt;</NextKeyMarker>"
	    "<NextUploadIdMarker><![CDATA[m]]></NextUploadIdMarker>"
	    "</ListMultipartUploadsResult>";
	struct buf ids;
	char *k = NULL, *i = NULL;

	(void)state;
	buf_init(&ids, 4096);
	assert_int_equal(s3xml_uploads_page(page, strlen(page), "a", "keep", 0,
	                     0, &ids, &k, &i),
	    1);
	assert_int_equal(ids.len, 4 + 5);
	assert_memory_equal(ids.data, "id1\0i&d&", 9);
	assert_string_equal(k, "a<");
	assert_string_equal(i, "m");
	free(k);
	free(i);
	/* Not going on: no markers read. */
	buf_reset(&ids);
	assert_int_equal(s3xml_uploads_page(page, strlen(page) - 200, "a", NULL,
	                     0, 0, &ids, &k, &i),
	    0);
	assert_null(k);
	assert_null(i);
	assert_memory_equal(ids.data, "id1\0keep\0", 9);
	/* No NextUploadIdMarker (S3 directory buckets): NULL. */
	buf_reset(&ids);
	assert_int_equal(s3xml_uploads_page("<IsTruncated>true</IsTruncated>"
	                                    "<NextKeyMarker>z</NextKeyMarker>",
	                     63, "a", NULL, 0, 0, &ids, &k, &i),
	    1);
	assert_string_equal(k, "z");
	assert_null(i);
	assert_int_equal(ids.len, 0);
	free(k);
	buf_free(&ids);
}

/* Only uploads initiated before a time: another writer's in progress is
 * not taken; one without a readable Initiated is not either. */
static void
test_uploads_page_before(void **state)
{
	static const char page[] =
	    "<Upload><Key>a</Key><UploadId>old</UploadId>"
	    "<Initiated>2026-12-05T10:00:00.000Z</Initiated></Upload>"
	    "<Upload><Key>a</Key><UploadId>new</UploadId>"
	    "<Initiated>2026-12-07T15:00:00Z</Initiated></Upload>"
	    "<Upload><Key>a</Key><UploadId>none</UploadId></Upload>"
	    "<Upload><Key>a</Key><UploadId>bad</UploadId>"
	    "<Initiated>2026-12-05 10:00:00</Initiated></Upload>"
	    "<IsTruncated>false</IsTruncated>";
	struct buf ids;
	char *k = NULL, *i = NULL;
	long long t;

	(void)state;
	assert_int_equal(s3xml_time("1970-01-01T00:00:00Z", 20, &t), 0);
	assert_int_equal(t, 0);
	assert_int_equal(s3xml_time("2026-12-07T15:00:00.123Z", 24, &t), 0);
	assert_int_equal(t, 1796655600LL);
	assert_int_equal(s3xml_time("2026-12-07T15:00:00", 19, &t), -1);
	assert_int_equal(s3xml_time("2026-13-07T15:00:00Z", 20, &t), -1);
	assert_int_equal(s3xml_time("2026-12-07T15:00:00.1", 21, &t), -1);
	assert_int_equal(s3xml_time("", 0, &t), -1);
	/* An upload's own Initiated: exactly its key and id, readable. */
	assert_int_equal(
	    s3xml_upload_initiated(page, strlen(page), "a", "new", &t), 1);
	assert_int_equal(t, 1796655600LL);
	assert_int_equal(
	    s3xml_upload_initiated(page, strlen(page), "a", "none", &t), 0);
	assert_int_equal(
	    s3xml_upload_initiated(page, strlen(page), "a", "bad", &t), 0);
	assert_int_equal(
	    s3xml_upload_initiated(page, strlen(page), "b", "new", &t), 0);
	assert_int_equal(
	    s3xml_upload_initiated(page, strlen(page), "a", "ne", &t), 0);
	buf_init(&ids, 1024);
	/* Before 2026-12-06: only the old one. */
	assert_int_equal(s3xml_uploads_page(page, strlen(page), "a", NULL, 0,
	                     1796515200LL, &ids, &k, &i),
	    0);
	assert_int_equal(ids.len, 4);
	assert_memory_equal(ids.data, "old", 4);
	/* 0: every one, whatever its age. */
	buf_reset(&ids);
	assert_int_equal(s3xml_uploads_page(
	                     page, strlen(page), "a", NULL, 0, 0, &ids, &k, &i),
	    0);
	assert_int_equal(ids.len, 17);
	assert_memory_equal(ids.data, "old\0new\0none\0bad", 17);
	/* From 2026-12-07T14:59:59 to before 15:00:01: only the new one;
	 * from then on with no end, the same. */
	buf_reset(&ids);
	assert_int_equal(s3xml_uploads_page(page, strlen(page), "a", NULL,
	                     1796655599LL, 1796655601LL, &ids, &k, &i),
	    0);
	assert_int_equal(ids.len, 4);
	assert_memory_equal(ids.data, "new", 4);
	buf_reset(&ids);
	assert_int_equal(s3xml_uploads_page(page, strlen(page), "a", NULL,
	                     1796655599LL, 0, &ids, &k, &i),
	    0);
	assert_int_equal(ids.len, 4);
	/* A window that ends before it: none. */
	buf_reset(&ids);
	assert_int_equal(s3xml_uploads_page(page, strlen(page), "a", NULL,
	                     1796655601LL, 1796655600LL, &ids, &k, &i),
	    0);
	assert_int_equal(ids.len, 0);
	buf_free(&ids);
}

/* A key too long for the transport's keys is no match; an id of any
 * length is taken whole. */
static void
test_uploads_page_huge(void **state)
{
	struct buf body, ids;
	char *big = malloc(N), *k = NULL, *i = NULL;

	(void)state;
	assert_non_null(big);
	memset(big, 'k', N);
	buf_init(&body, 4 * N);
	buf_init(&ids, 4 * N);
	assert_int_equal(buf_adds(&body, "<Upload><Key>"), 0);
	assert_int_equal(buf_add(&body, big, N), 0);
	assert_int_equal(buf_adds(&body,
	                     "</Key><UploadId>x</UploadId></Upload>"
	                     "<Upload><Key>a</Key><UploadId>"),
	    0);
	assert_int_equal(buf_add(&body, big, N), 0);
	assert_int_equal(buf_adds(&body, "</UploadId></Upload>"), 0);
	assert_int_equal(s3xml_uploads_page(body.data, body.len, "a", NULL, 0,
	                     0, &ids, &k, &i),
	    0);
	assert_int_equal(ids.len, N + 1);
	assert_int_equal(strlen(ids.data), N);
	buf_free(&ids);
	buf_free(&body);
	free(big);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_entities_and_charrefs),
		cmocka_unit_test(test_cdata),
		cmocka_unit_test(test_huge_fields),
		cmocka_unit_test(test_find_and_cut_bodies),
		cmocka_unit_test(test_namespaces),
		cmocka_unit_test(test_attributes_and_space),
		cmocka_unit_test(test_prefixed_names),
		cmocka_unit_test(test_truncated_forms),
		cmocka_unit_test(test_uploads_page),
		cmocka_unit_test(test_uploads_page_huge),
		cmocka_unit_test(test_uploads_page_before),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
