/* SIP message parser: a table of raw messages with the expected outcome (accept, or reject with a reason),
 * most of them written after the RFC 4475 torture tests (section noted per entry); typed header parsers on the
 * values those messages carry; stream framing fed byte by byte; the builder's output parsed back. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "common/common.h"
#include "sip/sip.h"
#include "sip/sip_internal.h"
#include "check_main.h"
#include "testutil.h"

/* Messages are written with "\n" line ends and converted to CRLF; "@CL@" becomes the body's real length. */
#define M(lit) lit, sizeof(lit) - 1

static const struct {
	const char *name;
	const char *text;
	size_t len;
	const char *reject; /* NULL: must be accepted; else a substring of the reason */
} cases[] = {
	/* RFC 4475 §3.1.1.1 wsinv: LWS everywhere, folding, compact forms, escaped quotes, unknown headers */
	{ "wsinv", M("INVITE sip:vivekg@chair-dnrc.example.com;unknownparam SIP/2.0\n"
		     "TO :\n sip:vivekg@chair-dnrc.example.com ;   tag    = 1918181833n\n"
		     "from   : \"J Rosenberg \\\\\\\"\"       <sip:jdrosen@example.com>\n  ;\n  tag = 98asjd8\n"
		     "MaX-fOrWaRdS: 0068\n"
		     "Call-ID: wsinv.ndaksdj@192.0.2.1\n"
		     "Content-Length   : @CL@\n"
		     "cseq: 0009\n  INVITE\n"
		     "Via  : SIP  /   2.0\n /UDP\n    192.0.2.2;branch=390skdjuw\n"
		     "s :\n"
		     "NewFangledHeader:   newfangled value\n continued newfangled value\n"
		     "UnknownHeaderWithUnusualValue: ;;,,;;,;\n"
		     "Content-Type: application/sdp\n"
		     "Route:\n <sip:services.example.com;lr;unknownwith=value;unknown-no-value>\n"
		     "v:  SIP  / 2.0  / TCP     spindle.example.com   ;\n  branch  =   z9hG4bK9ikj8  ,\n"
		     " SIP  /    2.0   / UDP  192.168.255.111   ; branch=\n z9hG4bK30239\n"
		     "m:\"Quoted string \\\"\\\"\" <sip:jdrosen@example.com> ; newparam =\n      newvalue ;\n"
		     "  secondparam ; q = 0.33\n"
		     "\n"
		     "v=0\no=mhandley 29739 7272939 IN IP4 192.0.2.3\ns=-\nc=IN IP4 192.0.2.4\nt=0 0\n"
		     "m=audio 49217 RTP/AVP 0 12\nm=video 3227 RTP/AVP 31\na=rtpmap:31 LPC\n"), NULL },
	/* §3.1.1.2 intmeth: every token character in the method, unusual URI, escaped controls in quotes */
	{ "intmeth", M("!interesting-Method0123456789_*+`.%indeed'~ "
		       "sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*:&it+has=1,weird!*pas$wo~d_too."
		       "(doesn't-it)@example.com SIP/2.0\n"
		       "Via: SIP/2.0/TCP host1.example.com;branch=z9hG4bK-.!%66*_+`'~\n"
		       "To: \"BEL:\\\x07 NUL:\\\x00 DEL:\\\x7f\" "
		       "<sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*@example.com>\n"
		       "From: token1~` token2'+_ token3*%!.- <sip:mundane@example.com>;"
		       "fromParam''~+*_!.-%=\"\xd1\x80\xd0\xb0\xd0\xb1\xd0\xbe\xd1\x82\";tag=_token~1'+`*%!-.\n"
		       "Call-ID: intmeth.word%ZK-!.*_+'@word`~)(><:\\/\"][?}{\n"
		       "CSeq: 139122385 !interesting-Method0123456789_*+`.%indeed'~\n"
		       "Max-Forwards: 255\n"
		       "extensionHeader-!.%*+_`'~: \xef\xbb\xbf\xe5\xa4\xa7\xe5\x81\x9c\xe9\x9b\xbb\n"
		       "Content-Length: 0\n\n"), NULL },
	/* §3.1.1.3 esc01: escapes in user parts and URI parameters */
	{ "esc01", M("INVITE sip:sips%3Auser%40example.com@example.net SIP/2.0\n"
		     "To: sip:%75se%72@example.com\n"
		     "From: <sip:I%20have%20spaces@example.net>;tag=938\n"
		     "Max-Forwards: 87\n"
		     "i: esc01.239409asdfakjkn23onasd0-3234\n"
		     "CSeq: 234234 INVITE\n"
		     "Via: SIP/2.0/UDP host5.example.net;branch=z9hG4bKkdjuw\n"
		     "C: application/sdp\n"
		     "Contact:\n  <sip:cal%6Cer@host5.example.net;%6C%72;n%61me=v%61lue%25%34%31>\n"
		     "Content-Length: @CL@\n\n"
		     "v=0\no=mhandley 29739 7272939 IN IP4 192.0.2.1\ns=-\nc=IN IP4 192.0.2.1\nt=0 0\n"
		     "m=audio 49217 RTP/AVP 0 12\nm=video 3227 RTP/AVP 31\na=rtpmap:31 LPC\n"), NULL },
	/* §3.1.1.4 escnull: escaped NULs in URIs */
	{ "escnull", M("REGISTER sip:example.com SIP/2.0\n"
		       "To: sip:null-%00-null@example.com\n"
		       "From: sip:null-%00-null@example.com;tag=839923423\n"
		       "Max-Forwards: 70\n"
		       "Call-ID: escnull.39203ndfvkjdasfkq3w4otrq0adsfdfnavd\n"
		       "CSeq: 14398234 REGISTER\n"
		       "Via: SIP/2.0/UDP host5.example.com;branch=z9hG4bKkdjuw\n"
		       "Contact: <sip:%00@host5.example.com>\n"
		       "Contact: <sip:%00%00@host5.example.com>\n"
		       "L:0\n\n"), NULL },
	/* §3.1.1.5 esc02: '%' in a method is a token character, not an escape */
	{ "esc02", M("RE%47IST sip:registrar.example.com SIP/2.0\n"
		     "To: \"%Z%45\" <sip:resource@example.com>\n"
		     "From: \"%Z%45\" <sip:resource@example.com>;tag=f232jadfj23\n"
		     "Call-ID: esc02.asdfnqwo34rq23i34jrjasdcnl23nrlknsdf\n"
		     "Via: SIP/2.0/TCP host.example.com;rport;branch=z9hG4bK209893\n"
		     "CSeq: 29344 RE%47IST\n"
		     "Max-Forwards: 70\n"
		     "Contact: <sip:alias1@host1.example.com>\n"
		     "C%6Fntact: <sip:alias2@host2.example.com>\n"
		     "Contact: <sip:alias3@host3.example.com>\n"
		     "l: 0\n\n"), NULL },
	/* §3.1.1.6 lwsdisp: no LWS between display name and '<' */
	{ "lwsdisp", M("OPTIONS sip:user@example.com SIP/2.0\n"
		       "To: sip:user@example.com\n"
		       "From: caller<sip:caller@example.com>;tag=323\n"
		       "Max-Forwards: 70\n"
		       "Call-ID: lwsdisp.1234abcd@funky.example.com\n"
		       "CSeq: 60 OPTIONS\n"
		       "Via: SIP/2.0/UDP funky.example.com;branch=z9hG4bKkdjuw\n"
		       "l: 0\n\n"), NULL },
	/* §3.1.1.8 dblreq: octets after Content-Length in a datagram are ignored */
	{ "dblreq", M("REGISTER sip:example.com SIP/2.0\n"
		      "To: sip:j.user@example.com\n"
		      "From: sip:j.user@example.com;tag=43251j3j324\n"
		      "Max-Forwards: 8\n"
		      "I: dblreq.0ha0isndaksdj99sdfafnl3lk233412\n"
		      "Contact: sip:j.user@host.example.com\n"
		      "CSeq: 8 REGISTER\n"
		      "Via: SIP/2.0/UDP 192.0.2.125;branch=z9hG4bKkdjuw23492\n"
		      "Content-Length: 0\n\n"
		      "INVITE sip:joe@example.com SIP/2.0\n"
		      "t: sip:joe@example.com\n\n"), NULL },
	/* §3.1.1.9 semiuri: ';' inside the user part */
	{ "semiuri", M("OPTIONS sip:user;par=u%40example.net@example.com SIP/2.0\n"
		       "To: sip:j_user@example.com\n"
		       "From: sip:caller@example.org;tag=33242\n"
		       "Max-Forwards: 3\n"
		       "Call-ID: semiuri.0ha0isndaksdj\n"
		       "CSeq: 8 OPTIONS\n"
		       "Accept: application/sdp, application/pkcs7-mime,\n multipart/mixed, multipart/signed,\n"
		       " message/sip, message/sipfrag\n"
		       "Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKkdjuw\n"
		       "l: 0\n\n"), NULL },
	/* §3.1.1.10 transports: unknown transports are tokens */
	{ "transports", M("OPTIONS sip:user@example.com SIP/2.0\n"
			  "To: sip:user@example.com\n"
			  "From: <sip:caller@example.com>;tag=323\n"
			  "Max-Forwards: 70\n"
			  "Call-ID:  transports.kijh4akdnaqjkwendsasfdj\n"
			  "Accept: application/sdp\n"
			  "CSeq: 60 OPTIONS\n"
			  "Via: SIP/2.0/UDP t1.example.com;branch=z9hG4bKkdjuw\n"
			  "Via: SIP/2.0/SCTP t2.example.com;branch=z9hG4bKklasjdhf\n"
			  "Via: SIP/2.0/TLS t3.example.com;branch=z9hG4bK2980unddj\n"
			  "Via: SIP/2.0/UNKNOWN t4.example.com;branch=z9hG4bKasd0f3en\n"
			  "Via: SIP/2.0/TCP t5.example.com;branch=z9hG4bK0a9idfnee\n"
			  "l: 0\n\n"), NULL },
	/* §3.1.1.11 mpart01: a multipart body, Content-Length counting all of it */
	{ "mpart01", M("MESSAGE sip:kumiko@example.org SIP/2.0\n"
		       "Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-d87543-4dade06d0bdb11ee-1--d87543-;rport\n"
		       "Max-Forwards: 70\n"
		       "Route: <sip:127.0.0.1:5080>\n"
		       "Identity: r5mwreLuyDRYBi/0TiPwEsY3rEVsk/G2WxhgTV1PF7hHuL\n"
		       "Contact: <sip:fluffy@127.0.0.1:5070>\n"
		       "To: <sip:kumiko@example.org>\n"
		       "From: <sip:fluffy@example.com>;tag=2fb0dcc9\n"
		       "Call-ID: 3d9485ad0c49859b@Zmx1ZmZ5LW1hYy0xNi5sb2NhbA..\n"
		       "CSeq: 1 MESSAGE\n"
		       "Content-Transfer-Encoding: binary\n"
		       "Content-Type: multipart/mixed;boundary=7a9cbec02ceef655\n"
		       "Date: Sat, 15 Oct 2005 04:44:56 GMT\n"
		       "User-Agent: SIPimp.org/0.2.5 (curses)\n"
		       "Content-Length: @CL@\n\n"
		       "--7a9cbec02ceef655\nContent-Type: text/plain\nContent-Transfer-Encoding: binary\n\n"
		       "Hello\n--7a9cbec02ceef655--\n"), NULL },
	/* §3.1.1.12 unreason: UTF-8 in the reason phrase */
	{ "unreason", M("SIP/2.0 200 = 2**3 * 5**2 \xd0\xbd\xd0\xbe \xd1\x81\xd1\x82\xd0\xbe "
			"\xd0\xb4\xd0\xb5\xd0\xb2\xd1\x8f\xd0\xbd\xd0\xbe\xd1\x81\xd1\x82\xd0\xbe\n"
			"Via: SIP/2.0/UDP 192.0.2.198;branch=z9hG4bK1324923\n"
			"Call-ID: unreason.1234ksdfak3j2erwedfsASdf\n"
			"CSeq: 35 INVITE\n"
			"From: sip:user@example.com;tag=11141343\n"
			"To: sip:user@example.edu;tag=2229\n"
			"Content-Length: @CL@\n"
			"Content-Type: application/sdp\n"
			"Contact: <sip:user@host198.example.com>\n\n"
			"v=0\no=mhandley 29739 7272939 IN IP4 192.0.2.198\ns=-\nc=IN IP4 192.0.2.198\nt=0 0\n"
			"m=audio 49217 RTP/AVP 0 12\nm=video 3227 RTP/AVP 31\na=rtpmap:31 LPC\n"), NULL },
	/* §3.1.1.13 noreason: empty reason phrase after the SP */
	{ "noreason", M("SIP/2.0 100 \n"
			"Via: SIP/2.0/UDP 192.0.2.105;branch=z9hG4bK2398ndaoe\n"
			"Call-ID: noreason.asndj203insdf99223ndf\n"
			"CSeq: 35 INVITE\n"
			"From: <sip:user@example.com>;tag=39ansfi3\n"
			"To: <sip:user@example.edu>;tag=902jndnke3\n"
			"Content-Length: 0\n"
			"Contact: <sip:user@host105.example.com>\n\n"), NULL },
	/* §3.1.2.1 badinv01: empty parameters and empty comma-separated values */
	{ "badinv01", M("OPTIONS sip:user@example.com SIP/2.0\n"
			"To: sip:j.user@example.com\n"
			"From: sip:caller@example.net;tag=134161461246\n"
			"Max-Forwards: 7\n"
			"Call-ID: badinv01.0ha0isndaksdjasdf3234nas\n"
			"CSeq: 8 OPTIONS\n"
			"Via: SIP/2.0/UDP 192.0.2.15;;,;,,\n"
			"Contact: \"Joe\" <sip:joe@example.org>;;;;\n"
			"Content-Length: 0\n\n"), "empty" },
	/* §3.1.2.2 clerr: Content-Length larger than the message */
	{ "clerr", M("INVITE sip:user@example.com SIP/2.0\n"
		     "Max-Forwards: 80\n"
		     "To: sip:j.user@example.com\n"
		     "From: sip:caller@example.net;tag=93942939o2\n"
		     "Contact: <sip:caller@hungry.example.net>\n"
		     "Call-ID: clerr.0ha0isndaksdjweiafasdk3\n"
		     "CSeq: 8 INVITE\n"
		     "Via: SIP/2.0/UDP host5.example.com;branch=z9hG4bK-39234-23523\n"
		     "Content-Type: application/sdp\n"
		     "Content-Length: 9999\n\n"
		     "v=0\no=mhandley 29739 7272939 IN IP4 192.0.2.155\ns=-\n"), "Content-Length larger" },
	/* §3.1.2.3 ncl: negative Content-Length */
	{ "ncl", M("INVITE sip:user@example.com SIP/2.0\n"
		   "Max-Forwards: 254\n"
		   "To: sip:j.user@example.com\n"
		   "From: sip:caller@example.net;tag=32394234\n"
		   "Call-ID: ncl.0ha0isndaksdj2193423r542w35\n"
		   "CSeq: 0 INVITE\n"
		   "Via: SIP/2.0/UDP 192.0.2.53;branch=z9hG4bKkdjuw\n"
		   "Contact: <sip:caller@example53.example.net>\n"
		   "Content-Type: application/sdp\n"
		   "Content-Length: -999\n\n"
		   "v=0\n"), "bad Content-Length" },
	/* §3.1.2.4 scalar02: overlarge CSeq, Max-Forwards, Expires */
	{ "scalar02", M("REGISTER sip:example.com SIP/2.0\n"
			"Via: SIP/2.0/TCP host129.example.com;branch=z9hG4bK342sdfoi3\n"
			"To: <sip:user@example.com>\n"
			"From: <sip:user@example.com>;tag=239232jh3\n"
			"CSeq: 36893488147419103232 REGISTER\n"
			"Call-ID: scalar02.23o0pd9vanlq3wnrlnewofjas9ui32\n"
			"Max-Forwards: 300\n"
			"Expires: 1000000000000000000000000000000000000000\n"
			"Contact: <sip:user@host129.example.com>\n  ;expires=280297596632815\n"
			"Content-Length: 0\n\n"), "CSeq number" },
	{ "maxfwd300", M("OPTIONS sip:user@example.com SIP/2.0\n"
			 "Via: SIP/2.0/UDP h.example.com;branch=z9hG4bK1\n"
			 "To: <sip:user@example.com>\nFrom: <sip:u@example.com>;tag=1\n"
			 "CSeq: 1 OPTIONS\nCall-ID: mf300\nMax-Forwards: 300\nContent-Length: 0\n\n"),
	  "Max-Forwards" },
	{ "expires-overlarge", M("REGISTER sip:example.com SIP/2.0\n"
				 "Via: SIP/2.0/UDP h.example.com;branch=z9hG4bK1\n"
				 "To: <sip:user@example.com>\nFrom: <sip:user@example.com>;tag=1\n"
				 "CSeq: 1 REGISTER\nCall-ID: exp\n"
				 "Contact: <sip:user@h.example.com>;expires=280297596632815\n"
				 "Content-Length: 0\n\n"), "expires" },
	/* §3.1.2.5 scalarlg: a response with an overlarge CSeq */
	{ "scalarlg", M("SIP/2.0 503 Service Unavailable\n"
			"Via: SIP/2.0/TCP host129.example.com;branch=z9hG4bKzzxdiwo34sw;received=192.0.2.129\n"
			"To: <sip:user@example.com>\n"
			"From: <sip:other@example.net>;tag=2easdjfejw\n"
			"CSeq: 9292394834772304023312 OPTIONS\n"
			"Call-ID: scalarlg.noase0of0234hn2qofoaf0232aewf2394r\n"
			"Retry-After: 949302838503028349304023988\n"
			"Warning: 1812 overture \"In Progress\"\n"
			"Content-Length: 0\n\n"), "CSeq number" },
	/* §3.1.2.6 quotbal: unterminated quoted display name */
	{ "quotbal", M("INVITE sip:user@example.com SIP/2.0\n"
		       "To: \"Mr. J. User <sip:j.user@example.com>\n"
		       "From: sip:caller@example.net;tag=93334\n"
		       "Max-Forwards: 10\n"
		       "Call-ID: quotbal.aksdj\n"
		       "Contact: <sip:caller@host59.example.net>\n"
		       "CSeq: 8 INVITE\n"
		       "Via: SIP/2.0/UDP 192.0.2.59:5050;branch=z9hG4bKkdjuw39234\n"
		       "Content-Length: 0\n\n"), "unterminated quoted string" },
	/* §3.1.2.7 ltgtruri: Request-URI in <> */
	{ "ltgtruri", M("INVITE <sip:user@example.com> SIP/2.0\n"
			"To: sip:user@example.com\nFrom: sip:caller@example.net;tag=39291\nMax-Forwards: 23\n"
			"Call-ID: ltgtruri.1@192.0.2.5\nCSeq: 1 INVITE\n"
			"Via: SIP/2.0/UDP 192.0.2.5\nContent-Length: 0\n\n"), "Request-URI" },
	/* §3.1.2.8 lwsruri: white space inside the Request-URI */
	{ "lwsruri", M("INVITE sip:user@example.com; lr SIP/2.0\n"
		       "To: sip:user@example.com;tag=3xfe-9921883-z9f\nFrom: sip:caller@example.net;tag=231413434\n"
		       "Max-Forwards: 5\nCall-ID: lwsruri.asdfasdoeoi2323-asdfwrn23-asd834rk423\nCSeq: 2130706432 INVITE\n"
		       "Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKkdjuw2395\nContent-Length: 0\n\n"),
	  "malformed request line" },
	/* §3.1.2.9 lwsstart: two SPs between request-line elements */
	{ "lwsstart", M("INVITE  sip:user@example.com  SIP/2.0\n"
			"Max-Forwards: 8\nTo: sip:user@example.com\nFrom: sip:caller@example.net;tag=8814\n"
			"Call-ID: lwsstart.dfknq234oi243099adsdfnawe3@example.com\nCSeq: 1893884 INVITE\n"
			"Via: SIP/2.0/UDP host1.example.com;branch=z9hG4bKkdjuw3923\nContent-Length: 0\n\n"),
	  "malformed request line" },
	/* §3.1.2.10 trws: SP after the version */
	{ "trws", M("OPTIONS sip:remote-target@example.com SIP/2.0  \n"
		    "Via: SIP/2.0/TCP host1.examle.com;branch=z9hG4bK299342093\nTo: <sip:remote-target@example.com>\n"
		    "From: <sip:local-resource@example.com>;tag=329429089\nCall-ID: trws.oicu34958239neffasdhr2345r\n"
		    "Accept: application/sdp\nCSeq: 238923 OPTIONS\nMax-Forwards: 70\nContent-Length: 0\n\n"),
	  "malformed request line" },
	/* §3.1.2.11 escruri: headers in the Request-URI */
	{ "escruri", M("INVITE sip:user@example.com?Route=%3Csip:example.com%3E SIP/2.0\n"
		       "To: sip:user@example.com\nFrom: sip:caller@example.net;tag=341518\nMax-Forwards: 7\n"
		       "Contact: <sip:caller@host39923.example.net>\nCall-ID: escruri.23940-asdfhj-aje3br-234q098w-fawerh2q-h4n5\n"
		       "CSeq: 149209342 INVITE\nVia: SIP/2.0/UDP host-of-the-hour.example.com;branch=z9hG4bKkdjuw\n"
		       "Content-Length: 0\n\n"), "headers (?...) not allowed" },
	/* §3.1.2.12 baddate: time zone other than GMT */
	{ "baddate", M("INVITE sip:user@example.com SIP/2.0\n"
		       "To: sip:user@example.com\nFrom: sip:caller@example.net;tag=2234923\nMax-Forwards: 70\n"
		       "Call-ID: baddate.239423mnsadf3j23lj42--sedfnm234\nCSeq: 1392934 INVITE\n"
		       "Via: SIP/2.0/UDP host.example.com;branch=z9hG4bKkdjuw\n"
		       "Date: Fri, 01 Jan 2010 16:00:00 EST\n"
		       "Contact: <sip:caller@host5.example.net>\nContent-Length: 0\n\n"), "Date" },
	/* §3.1.2.13 regbadct: URI with '?' not enclosed in <> */
	{ "regbadct", M("REGISTER sip:example.com SIP/2.0\n"
			"To: sip:user@example.com\nFrom: sip:user@example.com;tag=998332\nMax-Forwards: 70\n"
			"Call-ID: regbadct.k345asrl3fdbv@10.0.0.1\nCSeq: 1 REGISTER\n"
			"Via: SIP/2.0/UDP 135.180.130.133:5060;branch=z9hG4bKkdjuw\n"
			"Contact: sip:user@example.com?Route=%3Csip:sip.example.com%3E\n"
			"l: 0\n\n"), "must be enclosed in <>" },
	/* §3.1.2.14 badaspec: white space inside <> */
	{ "badaspec", M("OPTIONS sip:user@example.org SIP/2.0\n"
			"Via: SIP/2.0/UDP host4.example.com:5060;branch=z9hG4bKkdju43234\nMax-Forwards: 70\n"
			"From: \"Bell, Alexander\" <sip:a.g.bell@example.com>;tag=433423\n"
			"To: \"Watson, Thomas\" < sip:t.watson@example.org >\n"
			"Call-ID: badaspec.sdf0234n2nds0a099u23h3hnnw009cdkne3\nAccept: application/sdp\n"
			"CSeq: 3923239 OPTIONS\nl: 0\n\n"), "white space inside <URI>" },
	/* §3.1.2.15 baddn: unquoted display name with a comma */
	{ "baddn", M("OPTIONS sip:t.watson@example.org SIP/2.0\n"
		     "Via: SIP/2.0/UDP c.example.com:5060;branch=z9hG4bKkdjuw\nMax-Forwards: 70\n"
		     "From: Bell, Alexander <sip:a.g.bell@example.com>;tag=43\n"
		     "To: Watson, Thomas <sip:t.watson@example.org>\n"
		     "Call-ID: baddn.31415@c.example.com\nAccept: application/sdp\nCSeq: 3923239 OPTIONS\n"
		     "l: 0\n\n"), "URI" },
	/* §3.1.2.16 badvers */
	{ "badvers", M("OPTIONS sip:t.watson@example.org SIP/7.0\n"
		       "Via: SIP/7.0/UDP c.example.com;branch=z9hG4bKkdjuw\nMax-Forwards: 70\n"
		       "From: A. Bell <sip:a.g.bell@example.com>;tag=qweoiqpe\nTo: T. Watson <sip:t.watson@example.org>\n"
		       "Call-ID: badvers.31417@c.example.com\nCSeq: 1 OPTIONS\nl: 0\n\n"), "unsupported SIP version" },
	/* §3.1.2.17 mismatch01 and §3.1.2.18 mismatch02 */
	{ "mismatch01", M("OPTIONS sip:user@example.com SIP/2.0\n"
			  "To: sip:j.user@example.com\nFrom: sip:caller@example.net;tag=34525\nMax-Forwards: 6\n"
			  "Call-ID: mismatch01.dj0234sxdfl3\nCSeq: 8 INVITE\n"
			  "Via: SIP/2.0/UDP host.example.com;branch=z9hG4bKkdjuw\nl: 0\n\n"), "CSeq method" },
	{ "mismatch02", M("NEWMETHOD sip:user@example.com SIP/2.0\n"
			  "To: sip:j.user@example.com\nFrom: sip:caller@example.net;tag=34525\nMax-Forwards: 6\n"
			  "Call-ID: mismatch02.dj0234sxdfl3\nCSeq: 8 INVITE\nContact: <sip:caller@host.example.net>\n"
			  "Via: SIP/2.0/UDP host.example.net;branch=z9hG4bKkdjuw\nContent-Type: application/sdp\n"
			  "l: 0\n\n"), "CSeq method" },
	/* §3.1.2.19 bigcode */
	{ "bigcode", M("SIP/2.0 4294967301 better not break the receiver\n"
		       "Via: SIP/2.0/UDP 192.0.2.105;branch=z9hG4bK2398ndaoe\nCall-ID: bigcode.asdof3uj203asdnf3429uasdhfas3ehjasdfas9i\n"
		       "CSeq: 353494 INVITE\nFrom: <sip:user@example.com>;tag=39ansfi3\n"
		       "To: <sip:user@example.edu>;tag=902jndnke3\nContent-Length: 0\n\n"), "three digits" },
	/* §3.2.1 badbranch: a branch that is only the magic cookie is still syntactically fine */
	{ "badbranch", M("OPTIONS sip:user@example.com SIP/2.0\n"
			 "To: sip:user@example.com\nFrom: sip:caller@example.org;tag=33242\nMax-Forwards: 3\n"
			 "Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK\nAccept: application/sdp\n"
			 "Call-ID: badbranch.sadonfo23i420jv0as0derf3j3n\nCSeq: 8 OPTIONS\nl: 0\n\n"), NULL },
	/* §3.3.1 insuf: missing Call-ID, From, To */
	{ "insuf", M("INVITE sip:user@example.com SIP/2.0\n"
		     "CSeq: 193942 INVITE\nVia: SIP/2.0/UDP 192.0.2.95;branch=z9hG4bKkdj.insuf\n"
		     "Content-Type: application/sdp\nl: @CL@\n\n"
		     "v=0\no=mhandley 29739 7272939 IN IP4 192.0.2.95\ns=-\n"), "missing" },
	/* §3.3.2 unkscm, §3.3.3 novelsc, §3.3.4 unksm2: unknown schemes parse (416 is the application's call) */
	{ "unkscm", M("OPTIONS nobodyknowsthisscheme:totallyopaquecontent SIP/2.0\n"
		      "To: sip:user@example.com\nFrom: sip:caller@example.net;tag=384\nMax-Forwards: 3\n"
		      "Call-ID: unkscm.nasdfasser0q239nwsdfasdkl34\nCSeq: 3923423 OPTIONS\n"
		      "Via: SIP/2.0/TCP host9.example.com;branch=z9hG4bKkdjuw39234\nContent-Length: 0\n\n"), NULL },
	{ "novelsc", M("OPTIONS soap.beep://192.0.2.103:3002 SIP/2.0\n"
		       "To: sip:user@example.com\nFrom: sip:caller@example.net;tag=384\nMax-Forwards: 3\n"
		       "Call-ID: novelsc.asdfasser0q239nwsdfasdkl34\nCSeq: 3923423 OPTIONS\n"
		       "Via: SIP/2.0/TCP host9.example.com;branch=z9hG4bKkdjuw39234\nContent-Length: 0\n\n"), NULL },
	{ "unksm2", M("REGISTER sip:example.com SIP/2.0\n"
		      "To: isbn:2983792873\nFrom: <http://www.example.com>;tag=3234233\n"
		      "Call-ID: unksm2.daksdj@hyphenated-host.example.com\nCSeq: 234902 REGISTER\nMax-Forwards: 70\n"
		      "Via: SIP/2.0/UDP 192.0.2.21:5060;branch=z9hG4bKkdjuw\n"
		      "Contact: <name:John_Smith>\nl: 0\n\n"), NULL },
	/* §3.3.5 bext01, §3.3.6 invut, §3.3.7 regaut01: extensions, unknown types and schemes parse */
	{ "bext01", M("OPTIONS sip:user@example.com SIP/2.0\n"
		      "To: sip:j_user@example.com\nFrom: sip:caller@example.net;tag=242etr\nMax-Forwards: 6\n"
		      "Call-ID: bext01.0ha0isndaksdj\nRequire: nothingSupportsThis, nothingSupportsThisEither\n"
		      "Proxy-Require: noProxiesSupportThis, norDoAnyProxiesSupportThis\nCSeq: 8 OPTIONS\n"
		      "Via: SIP/2.0/TLS fold-and-staple.example.com;branch=z9hG4bKkdjuw\nContent-Length: 0\n\n"), NULL },
	{ "invut", M("INVITE sip:user@example.com SIP/2.0\n"
		     "Contact: <sip:caller@host5.example.net>\nTo: sip:j.user@example.com\n"
		     "From: sip:caller@example.net;tag=8392034\nMax-Forwards: 70\nCall-ID: invut.0ha0isndaksdjadsfij34n23d\n"
		     "CSeq: 235448 INVITE\nVia: SIP/2.0/UDP somehost.example.com;branch=z9hG4bKkdjuw\n"
		     "Content-Type: application/unknownformat\nContent-Length: @CL@\n\n"
		     "<audio>\n <pcmu port=\"443\"/>\n</audio>\n"), NULL },
	{ "regaut01", M("REGISTER sip:example.com SIP/2.0\n"
			"To: sip:j.user@example.com\nFrom: sip:j.user@example.com;tag=87321hj23128\nMax-Forwards: 8\n"
			"Call-ID: regaut01.0ha0isndaksdj\nCSeq: 9338 REGISTER\n"
			"Via: SIP/2.0/TCP 192.0.2.253;branch=z9hG4bKkdjuw\n"
			"Authorization: NoOneKnowsThisScheme opaque-data=here\nContent-Length:0\n\n"), NULL },
	/* §3.3.8 multi01: several values where one is required */
	{ "multi01", M("INVITE sip:user@company.com SIP/2.0\n"
		       "Contact: <sip:caller@host25.example.net>\n"
		       "Via: SIP/2.0/UDP 192.0.2.25;branch=z9hG4bKkdjuw\nMax-Forwards: 70\n"
		       "CSeq: 5 INVITE\nCall-ID: multi01.98asdh@192.0.2.1\nCSeq: 59 INVITE\n"
		       "Call-ID: multi01.98asdh@192.0.2.2\nFrom: sip:caller@example.com;tag=3413415\n"
		       "To: sip:user@example.com\nTo: sip:other@example.net\nFrom: sip:caller@example.net;tag=2923420123\n"
		       "Content-Type: application/sdp\nl: 0\n\n"), "more than one" },
	/* §3.3.9 mcl01: several Content-Length values */
	{ "mcl01", M("OPTIONS sip:user@example.com SIP/2.0\n"
		     "Via: SIP/2.0/UDP host5.example.net;branch=z9hG4bK293423\nTo: sip:user@example.com\n"
		     "From: sip:other@example.net;tag=3923942\nCall-ID: mcl01.fhn2323orihawfdoa3o4r52o3irsdf\n"
		     "CSeq: 15932 OPTIONS\nContent-Length: 13\nMax-Forwards: 60\nContent-Length: 5\n"
		     "Content-Type: text/plain\n\nthere's no way to know\n"), "more than one Content-Length" },
	/* §3.3.10 bcast, §3.3.11 zeromf, §3.3.12/13/14 Contact forms, §3.3.15 sdp01 */
	{ "bcast", M("SIP/2.0 200 OK\n"
		     "Via: SIP/2.0/UDP 192.0.2.198;branch=z9hG4bK1324923\n"
		     "Via: SIP/2.0/UDP 255.255.255.255;branch=z9hG4bK1saber23\n"
		     "Call-ID: bcast.0384840201234ksdfak3j2erwedfsASdf\nCSeq: 35 INVITE\n"
		     "From: sip:user@example.com;tag=11141343\nTo: sip:user@example.edu;tag=2229\n"
		     "Content-Length: 0\nContact: <sip:user@host28.example.com>\n\n"), NULL },
	{ "zeromf", M("OPTIONS sip:user@example.com SIP/2.0\n"
		      "To: sip:user@example.com\nFrom: sip:caller@example.net;tag=3ghsd41\n"
		      "Call-ID: zeromf.jfasdlfnm2o2l43r5u0asdfas\nCSeq: 39234321 OPTIONS\n"
		      "Via: SIP/2.0/UDP host1.example.com;branch=z9hG4bKkdjuw2349i\nMax-Forwards: 0\n"
		      "Content-Length: 0\n\n"), NULL },
	{ "cparam01", M("REGISTER sip:example.com SIP/2.0\n"
			"Via: SIP/2.0/UDP saturn.example.com:5060;branch=z9hG4bKkdjuw\nMax-Forwards: 70\n"
			"From: sip:watson@example.com;tag=DkfVgjkrtMwaerKKpe\nTo: sip:watson@example.com\n"
			"Call-ID: cparam01.70710@saturn.example.com\nCSeq: 2 REGISTER\n"
			"Contact: sip:+19725552222@gw1.example.net;unknownparam\nl: 0\n\n"), NULL },
	{ "cparam02", M("REGISTER sip:example.com SIP/2.0\n"
			"Via: SIP/2.0/UDP saturn.example.com:5060;branch=z9hG4bKkdjuw\nMax-Forwards: 70\n"
			"From: sip:watson@example.com;tag=838293\nTo: sip:watson@example.com\n"
			"Call-ID: cparam02.70710@saturn.example.com\nCSeq: 3 REGISTER\n"
			"Contact: <sip:+19725552222@gw1.example.net;unknownparam>\nl: 0\n\n"), NULL },
	{ "regescrt", M("REGISTER sip:example.com SIP/2.0\n"
			"To: sip:user@example.com\nFrom: sip:user@example.com;tag=8\nMax-Forwards: 70\n"
			"Call-ID: regescrt.k345asrl3fdbv@192.0.2.1\nCSeq: 14398234 REGISTER\n"
			"Via: SIP/2.0/UDP host5.example.com;branch=z9hG4bKkdjuw\nM: <sip:user@example.com?Route=%3Csip:sip.example.com%3E>\n"
			"L:0\n\n"), NULL },
	{ "sdp01", M("INVITE sip:user@example.com SIP/2.0\n"
		     "To: sip:j_user@example.com\nContact: <sip:caller@host15.example.net>\n"
		     "From: sip:caller@example.net;tag=234\nMax-Forwards: 5\nCall-ID: sdp01.ndaksdj9342dasdd\n"
		     "Accept: text/nobodyknowsthis\nCSeq: 8 INVITE\nVia: SIP/2.0/UDP 192.0.2.15;branch=z9hG4bKkdjuw\n"
		     "Content-Length: @CL@\nContent-Type: application/sdp\n\n"
		     "v=0\no=mhandley 29739 7272939 IN IP4 192.0.2.5\ns=-\nc=IN IP4 192.0.2.5\nt=0 0\n"
		     "m=audio 49217 RTP/AVP 0\n"), NULL },
	/* §3.4.1 inv2543: RFC 2543 syntax (no branch cookie, no tags, no Max-Forwards) is accepted */
	{ "inv2543", M("INVITE sip:UserB@example.com SIP/2.0\n"
		       "Via: SIP/2.0/UDP iftgw.example.com\n"
		       "From: <sip:+13035551111@ift.client.example.net;user=phone>\n"
		       "Record-Route: <sip:UserB@example.com;maddr=ss1.example.com>\n"
		       "To: sip:+16505552222@ss1.example.net;user=phone\n"
		       "Call-ID: inv2543.1717@ift.client.example.com\nCSeq: 56 INVITE\n"
		       "Content-Type: application/sdp\nContent-Length: @CL@\n\n"
		       "v=0\no=mhandley 29739 7272939 IN IP4 192.0.2.5\ns=-\nc=IN IP4 192.0.2.5\nt=0 0\n"
		       "m=audio 49217 RTP/AVP 0\n"), NULL },
	/* Beyond RFC 4475: framing and limits */
	{ "empty", M(""), "empty message" },
	{ "no-blank-line", M("OPTIONS sip:a@b SIP/2.0\nVia: SIP/2.0/UDP h\n"), "not terminated" },
	{ "continuation-first", M("OPTIONS sip:a@b SIP/2.0\n folded: x\n\n"), "continuation line" },
	{ "no-colon", M("OPTIONS sip:a@b SIP/2.0\nVia SIP/2.0/UDP h\n\n"), "malformed header line" },
	{ "status-99", M("SIP/2.0 099 Early\nVia: SIP/2.0/UDP h\n\n"), "out of range" },
	{ "status-700", M("SIP/2.0 700 Late\nVia: SIP/2.0/UDP h\n\n"), "out of range" },
	{ "bad-escape", M("OPTIONS sip:a%2@b SIP/2.0\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\nTo: <sip:a@b>\n"
			  "From: <sip:a@b>;tag=1\nCall-ID: x\nCSeq: 1 OPTIONS\nl: 0\n\n"), "user part" },
	{ "bad-port", M("OPTIONS sip:a@b:70000 SIP/2.0\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\nTo: <sip:a@b>\n"
			"From: <sip:a@b>;tag=1\nCall-ID: x\nCSeq: 1 OPTIONS\nl: 0\n\n"), "port" },
	{ "missing-via", M("OPTIONS sip:a@b SIP/2.0\nTo: <sip:a@b>\nFrom: <sip:a@b>;tag=1\nCall-ID: x\n"
			   "CSeq: 1 OPTIONS\nl: 0\n\n"), "missing Via" },
	{ "cseq-2^31", M("OPTIONS sip:a@b SIP/2.0\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\nTo: <sip:a@b>\n"
			 "From: <sip:a@b>;tag=1\nCall-ID: x\nCSeq: 2147483648 OPTIONS\nl: 0\n\n"), "2^31" },
	{ "cseq-2^31-1", M("OPTIONS sip:a@b SIP/2.0\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\nTo: <sip:a@b>\n"
			   "From: <sip:a@b>;tag=1\nCall-ID: x\nCSeq: 2147483647 OPTIONS\nl: 0\n\n"), NULL },
	{ "route-no-angle", M("OPTIONS sip:a@b SIP/2.0\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\nTo: <sip:a@b>\n"
			      "From: <sip:a@b>;tag=1\nCall-ID: x\nCSeq: 1 OPTIONS\nRoute: sip:p.example.com;lr\n"
			      "l: 0\n\n"), "not in <>" },
	{ "empty-tag", M("OPTIONS sip:a@b SIP/2.0\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\nTo: <sip:a@b>\n"
			 "From: <sip:a@b>;tag=\nCall-ID: x\nCSeq: 1 OPTIONS\nl: 0\n\n"), "parameter" },
	{ "bare-cr", M("OPTIONS sip:a@b SIP/2.0\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\rX: y\n\n"), "CRLF" },
	{ "bad-auth", M("SIP/2.0 401 Unauthorized\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\nTo: <sip:a@b>;tag=2\n"
			"From: <sip:a@b>;tag=1\nCall-ID: x\nCSeq: 1 REGISTER\n"
			"WWW-Authenticate: Digest realm=\"x, nonce=\"y\"\nl: 0\n\n"), "" },
	{ "auth-ok", M("SIP/2.0 407 Proxy Authentication Required\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\n"
		       "To: <sip:a@b>;tag=2\nFrom: <sip:a@b>;tag=1\nCall-ID: x\nCSeq: 1 INVITE\n"
		       "Proxy-Authenticate: Digest realm=\"atlanta.com\", domain=\"sip:ss1.carrier.com\",\n"
		       " qop=\"auth\", nonce=\"f84f1cec41e6cbe5aea9c8e88d359\", opaque=\"\", stale=FALSE, algorithm=MD5\n"
		       "l: 0\n\n"), NULL },
};

/* LF -> CRLF (a lone LF only), "@CL@" -> the length of the body after the blank line. */
static char *prepare(const char *text, size_t len, size_t *out_len)
{
	char *out = malloc(len * 2 + 16), *cl, *body;
	size_t n = 0;

	for (size_t i = 0; i < len; i++) {
		if (text[i] == '\n' && (i == 0 || text[i - 1] != '\r'))
			out[n++] = '\r';
		out[n++] = text[i];
	}
	out[n] = '\0';
	cl = memmem(out, n, "@CL@", 4);
	body = memmem(out, n, "\r\n\r\n", 4);
	if (cl && body) {
		char num[8];
		size_t blen = n - (size_t)(body + 4 - out);
		int w;

		/* the number may be shorter than the placeholder; shifting changes no body byte */
		w = snprintf(num, sizeof(num), "%zu", blen);
		memmove(cl + w, cl + 4, n - (size_t)(cl + 4 - out) + 1);
		memcpy(cl, num, (size_t)w);
		n = n - 4 + (size_t)w;
	}
	*out_len = n;
	return out;
}

static struct sip_msg msg; /* large: keep it off the stack */

START_TEST(table)
{
	size_t len;
	char *buf = prepare(cases[_i].text, cases[_i].len, &len);
	int rc = sip_msg_parse(&msg, buf, len);

	if (rc == 0)
		rc = sip_msg_validate(&msg);
	if (!cases[_i].reject) {
		ck_assert_msg(rc == 0, "%s: rejected: %s", cases[_i].name, msg.error);
	} else {
		ck_assert_msg(rc < 0, "%s: accepted, expected rejection (%s)", cases[_i].name, cases[_i].reject);
		ck_assert_msg(msg.error && strstr(msg.error, cases[_i].reject), "%s: reason '%s', expected '%s'",
			      cases[_i].name, msg.error, cases[_i].reject);
	}
	free(buf);
}
END_TEST

static const char *find_case(const char *name, size_t *len, char **buf)
{
	for (size_t i = 0; i < CM_ARRAY_SIZE(cases); i++)
		if (strcmp(cases[i].name, name) == 0) {
			*buf = prepare(cases[i].text, cases[i].len, len);
			return *buf;
		}
	abort();
}

/* What the wsinv parse yields, value by value: folding, compact forms, LWS around every separator. */
START_TEST(wsinv_values)
{
	size_t len;
	char *buf;
	const struct sip_hdr *h;
	struct sip_addr a;
	struct sip_via v;
	struct sip_cseq cs;
	struct sip_str rest, elem, val;
	const char *why = NULL;
	uint32_t mf;
	char disp[64];

	find_case("wsinv", &len, &buf);
	ck_assert_int_eq(sip_msg_parse(&msg, buf, len), 0);
	ck_assert(msg.is_request);
	ck_assert_int_eq(msg.method_id, SIP_INVITE);
	ck_assert(msg.body.len > 20 && memcmp(msg.body.p, "v=0\r\n", 5) == 0);
	ck_assert(memcmp(msg.body.p + msg.body.len - 5, "LPC\r\n", 5) == 0);
	h = sip_msg_hdr(&msg, SIP_HDR_TO);
	ck_assert_ptr_nonnull(h);
	ck_assert_int_eq(sip_parse_addr(h->value, &a, &why), 0);
	ck_assert(sip_str_eq(a.tag, "1918181833n"));
	ck_assert(sip_str_eq(a.uri.host, "chair-dnrc.example.com"));
	ck_assert(sip_str_eq(a.uri.user, "vivekg"));
	h = sip_msg_hdr(&msg, SIP_HDR_FROM);
	ck_assert_int_eq(sip_parse_addr(h->value, &a, &why), 0);
	ck_assert(sip_str_eq(a.tag, "98asjd8"));
	ck_assert_int_eq(sip_unquote((struct sip_str){ a.display.p + 1, a.display.len - 2 }, disp, sizeof(disp)), 14);
	ck_assert_str_eq(disp, "J Rosenberg \\\"");
	ck_assert_int_eq(sip_parse_uint(sip_msg_hdr(&msg, SIP_HDR_MAX_FORWARDS)->value, 255, &mf, &why), 0);
	ck_assert_uint_eq(mf, 68);
	ck_assert_int_eq(sip_parse_cseq(sip_msg_hdr(&msg, SIP_HDR_CSEQ)->value, &cs, &why), 0);
	ck_assert_uint_eq(cs.seq, 9);
	ck_assert_int_eq(cs.method_id, SIP_INVITE);
	/* two Via lines, the second ("v:") holding two values */
	ck_assert_uint_eq(sip_msg_hdr_count(&msg, SIP_HDR_VIA), 2);
	h = sip_msg_hdr(&msg, SIP_HDR_VIA);
	ck_assert_int_eq(sip_parse_via(h->value, &v, &why), 0);
	ck_assert(sip_str_eq(v.transport, "UDP"));
	ck_assert(sip_str_eq(v.host, "192.0.2.2"));
	ck_assert(sip_str_eq(v.branch, "390skdjuw"));
	h = sip_msg_next_hdr(&msg, h);
	rest = h->value;
	ck_assert_int_eq(sip_next_value(&rest, &elem), 1);
	ck_assert_int_eq(sip_parse_via(elem, &v, &why), 0);
	ck_assert(sip_str_eq(v.transport, "TCP"));
	ck_assert(sip_str_eq(v.host, "spindle.example.com"));
	ck_assert(sip_str_eq(v.branch, "z9hG4bK9ikj8"));
	ck_assert_int_eq(sip_next_value(&rest, &elem), 1);
	ck_assert_int_eq(sip_parse_via(elem, &v, &why), 0);
	ck_assert(sip_str_eq(v.host, "192.168.255.111"));
	ck_assert(sip_str_eq(v.branch, "z9hG4bK30239"));
	ck_assert_int_eq(sip_next_value(&rest, &elem), 0);
	/* m: Contact with parameters around LWS */
	h = sip_msg_hdr(&msg, SIP_HDR_CONTACT);
	ck_assert_int_eq(sip_parse_addr(h->value, &a, &why), 0);
	ck_assert_int_eq(sip_param_get(a.params, "q", &val), 1);
	ck_assert(sip_str_eq(val, "0.33"));
	ck_assert_int_eq(sip_param_get(a.params, "newparam", &val), 1);
	ck_assert(sip_str_eq(val, "newvalue"));
	ck_assert_int_eq(sip_param_get(a.params, "secondparam", &val), 1);
	ck_assert_uint_eq(val.len, 0);
	/* s: an empty Subject in compact form */
	h = sip_msg_hdr(&msg, SIP_HDR_SUBJECT);
	ck_assert_ptr_nonnull(h);
	ck_assert_uint_eq(h->value.len, 0);
	h = sip_msg_hdr_by_name(&msg, "newfangledheader");
	ck_assert_ptr_nonnull(h);
	ck_assert(memmem(h->value.p, h->value.len, "continued newfangled value", 26));
	free(buf);
}
END_TEST

/* dblreq: the first message only; intmeth: values with NUL octets and unusual characters. */
START_TEST(datagram_trailing_octets_and_nuls)
{
	size_t len;
	char *buf;
	struct sip_addr a;
	struct sip_uri u;
	const char *why;

	find_case("dblreq", &len, &buf);
	ck_assert_int_eq(sip_msg_parse(&msg, buf, len), 0);
	ck_assert_int_eq(msg.method_id, SIP_REGISTER);
	ck_assert_uint_eq(msg.body.len, 0);
	ck_assert(msg.len < len);
	ck_assert(memmem(buf + msg.len, len - msg.len, "INVITE", 6));
	free(buf);

	find_case("intmeth", &len, &buf);
	ck_assert_int_eq(sip_msg_parse(&msg, buf, len), 0);
	ck_assert_int_eq(msg.method_id, SIP_METHOD_UNKNOWN);
	ck_assert_int_eq(sip_parse_uri(msg.ruri, &u, &why), 0);
	ck_assert(sip_str_eq(u.user, "1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*"));
	ck_assert(sip_str_eq(u.password, "&it+has=1,weird!*pas$wo~d_too.(doesn't-it)"));
	ck_assert(sip_str_eq(u.host, "example.com"));
	ck_assert_int_eq(sip_parse_addr(sip_msg_hdr(&msg, SIP_HDR_TO)->value, &a, &why), 0);
	ck_assert_uint_eq(a.display.len, 2 + 20); /* "BEL:\\x NUL:\\x DEL:\\x" */
	ck_assert_int_eq(sip_parse_addr(sip_msg_hdr(&msg, SIP_HDR_FROM)->value, &a, &why), 0);
	ck_assert(sip_str_eq(a.display, "token1~` token2'+_ token3*%!.-"));
	ck_assert(sip_str_eq(a.tag, "_token~1'+`*%!-."));
	free(buf);
}
END_TEST

START_TEST(uris)
{
	static const struct {
		const char *uri;
		int rc;
		const char *user, *host;
		unsigned port;
	} t[] = {
		{ "sip:alice@atlanta.com", 0, "alice", "atlanta.com", 0 },
		{ "sips:alice:secret@[2001:db8::10]:5061;transport=tcp", 0, "alice", "[2001:db8::10]", 5061 },
		{ "SIP:+1-212-555-1212:1234@gateway.com;user=phone", 0, "+1-212-555-1212", "gateway.com", 0 },
		{ "sip:192.0.2.4:5060", 0, "", "192.0.2.4", 5060 },
		{ "sip:atlanta.com;method=REGISTER?to=alice%40atlanta.com", 0, "", "atlanta.com", 0 },
		{ "tel:+358-555-1234567;postd=pp22", 0, "", "", 0 },
		{ "sip:", -22, NULL, NULL, 0 },
		{ "sip:a@", -22, NULL, NULL, 0 },
		{ "sip:a@b:0", -22, NULL, NULL, 0 },
		{ "sip:a@b:", -22, NULL, NULL, 0 },
		{ "sip:a b@c", -22, NULL, NULL, 0 },
		{ "sip:a@b@c", -22, NULL, NULL, 0 },
		{ "sip:a@[::1", -22, NULL, NULL, 0 },
		{ "sip:a@b;;x", -22, NULL, NULL, 0 },
		{ "sip:a@b?", -22, NULL, NULL, 0 },
		{ "1sip:a@b", -22, NULL, NULL, 0 },
	};

	for (size_t i = 0; i < CM_ARRAY_SIZE(t); i++) {
		struct sip_uri u;
		const char *why = NULL;
		int rc = sip_parse_uri((struct sip_str){ t[i].uri, strlen(t[i].uri) }, &u, &why);

		ck_assert_msg(rc == t[i].rc, "%s: rc %d (%s)", t[i].uri, rc, why ? why : "");
		if (rc == 0 && t[i].user) {
			ck_assert_msg(sip_str_eq(u.user, t[i].user), "%s: user", t[i].uri);
			ck_assert_msg(sip_str_eq(u.host, t[i].host), "%s: host", t[i].uri);
			ck_assert_uint_eq(u.port, t[i].port);
		}
		if (rc < 0)
			ck_assert_ptr_nonnull(why);
	}
}
END_TEST

START_TEST(via_received_rport)
{
	struct sip_via v;
	const char *why;
	const char *s = "SIP/2.0/UDP 10.0.0.1:5062;rport=40000;received=192.0.2.7;branch=z9hG4bK77";

	ck_assert_int_eq(sip_parse_via((struct sip_str){ s, strlen(s) }, &v, &why), 0);
	ck_assert_uint_eq(v.port, 5062);
	ck_assert(sip_str_eq(v.sent_by, "10.0.0.1:5062"));
	ck_assert(v.has_rport);
	ck_assert_int_eq(v.rport, 40000);
	ck_assert(sip_str_eq(v.received, "192.0.2.7"));
	ck_assert(sip_str_eq(v.branch, "z9hG4bK77"));
	s = "SIP/2.0/TLS [2001:db8::1];rport";
	ck_assert_int_eq(sip_parse_via((struct sip_str){ s, strlen(s) }, &v, &why), 0);
	ck_assert_int_eq(v.rport, -1);
	ck_assert(sip_str_eq(v.host, "[2001:db8::1]"));
	s = "SIP/2.0/UDP h;rport=99999";
	ck_assert_int_eq(sip_parse_via((struct sip_str){ s, strlen(s) }, &v, &why), -22);
	s = "SIP/2.0/UDPh";
	ck_assert_int_eq(sip_parse_via((struct sip_str){ s, strlen(s) }, &v, &why), -22);
}
END_TEST

START_TEST(header_count_limit)
{
	char *buf = malloc(SIP_MAX_MSG_SIZE);
	int n = snprintf(buf, SIP_MAX_MSG_SIZE, "OPTIONS sip:a@b SIP/2.0\r\n");

	for (unsigned i = 0; i < SIP_MAX_HEADERS; i++)
		n += snprintf(buf + n, SIP_MAX_MSG_SIZE - (size_t)n, "X-H%u: v\r\n", i);
	n += snprintf(buf + n, SIP_MAX_MSG_SIZE - (size_t)n, "\r\n");
	ck_assert_int_eq(sip_msg_parse(&msg, buf, (size_t)n), 0);
	ck_assert_uint_eq(msg.nhdrs, SIP_MAX_HEADERS);
	n -= 2;
	n += snprintf(buf + n, SIP_MAX_MSG_SIZE - (size_t)n, "X-One-More: v\r\n\r\n");
	ck_assert_int_eq(sip_msg_parse(&msg, buf, (size_t)n), -E2BIG);
	ck_assert_str_eq(msg.error, "more than SIP_MAX_HEADERS header lines");
	ck_assert_int_eq(sip_msg_parse(&msg, buf, SIP_MAX_MSG_SIZE + 1u > (size_t)n ? SIP_MAX_MSG_SIZE + 1u : 0),
			 -EMSGSIZE);
	free(buf);
}
END_TEST

/* §3.1.1.7 longreq: long values everywhere are fine as long as the message fits the limit. */
START_TEST(long_values)
{
	char *buf = malloc(SIP_MAX_MSG_SIZE), *lng = malloc(4001);
	int n;

	memset(lng, 'a', 4000);
	lng[4000] = '\0';
	n = snprintf(buf, SIP_MAX_MSG_SIZE,
		     "INVITE sip:user@example.com SIP/2.0\r\n"
		     "To: \"I have a user name of %s\" <sip:user@example.com>\r\n"
		     "From: sip:caller@example.net;tag=%s\r\n"
		     "Call-ID: longreq.one%s@really.long.example.com\r\n"
		     "CSeq: 3882340 INVITE\r\nMax-Forwards: 70\r\n"
		     "Via: SIP/2.0/TCP sip33.example.com;branch=z9hG4bK%s\r\n"
		     "Via: SIP/2.0/TCP sip32.example.com\r\nVia: SIP/2.0/TCP sip31.example.com\r\n"
		     "Contact: <sip:amazinglylongcallername%s@host5.example.net>\r\n"
		     "%s: x\r\nl: 0\r\n\r\n",
		     lng, lng, lng, lng, lng, lng + 3000);
	ck_assert_int_eq(sip_msg_parse(&msg, buf, (size_t)n), 0);
	ck_assert_int_eq(sip_msg_validate(&msg), 0);
	ck_assert_uint_eq(sip_msg_hdr_by_name(&msg, lng + 3000)->value.len, 1);
	free(buf);
	free(lng);
}
END_TEST

/* Stream framing: the same two messages fed whole, and one byte at a time, frame identically. */
START_TEST(stream_framing)
{
	static const char two[] = "\r\n\r\nINVITE sip:a@b SIP/2.0\r\nVia: SIP/2.0/TCP h;branch=z9hG4bK1\r\n"
				  "l: 5\r\n\r\nhello"
				  "BYE sip:a@b SIP/2.0\r\ncontent-length:0\r\n\r\n";
	struct sip_framer f;
	size_t mlen = 0, total = sizeof(two) - 1, first = 0;
	enum sip_frame_rc rc;

	sip_framer_reset(&f);
	ck_assert_int_eq(sip_frame(&f, two, total, &mlen), SIP_FRAME_OK);
	ck_assert_uint_eq(f.skip, 4);
	ck_assert(memcmp(two + mlen - 5, "hello", 5) == 0);
	first = mlen;
	ck_assert_int_eq(sip_msg_parse(&msg, two + f.skip, mlen - f.skip), 0);
	ck_assert(sip_str_eq(msg.body, "hello"));

	sip_framer_reset(&f);
	for (size_t have = 0; have <= total; have++) {
		rc = sip_frame(&f, two, have, &mlen);
		if (have < first)
			ck_assert_msg(rc == SIP_FRAME_AGAIN, "have %zu rc %d", have, rc);
		else
			ck_assert_int_eq(rc, SIP_FRAME_OK);
	}
	ck_assert_uint_eq(mlen, first);
	sip_framer_reset(&f);
	ck_assert_int_eq(sip_frame(&f, two + first, total - first, &mlen), SIP_FRAME_OK);
	ck_assert_uint_eq(mlen, total - first);

	static const char nocl[] = "OPTIONS sip:a@b SIP/2.0\r\nVia: x\r\n\r\n";
	sip_framer_reset(&f);
	ck_assert_int_eq(sip_frame(&f, nocl, sizeof(nocl) - 1, &mlen), SIP_FRAME_ERROR);
	ck_assert_str_eq(f.error, "no Content-Length on a stream transport");
	static const char badcl[] = "OPTIONS sip:a@b SIP/2.0\r\nContent-Length: 99999999\r\n\r\n";
	sip_framer_reset(&f);
	ck_assert_int_eq(sip_frame(&f, badcl, sizeof(badcl) - 1, &mlen), SIP_FRAME_ERROR);
	char *junk = malloc(SIP_MAX_MSG_SIZE + 10);
	memset(junk, 'x', SIP_MAX_MSG_SIZE + 10);
	sip_framer_reset(&f);
	ck_assert_int_eq(sip_frame(&f, junk, SIP_MAX_MSG_SIZE + 10, &mlen), SIP_FRAME_ERROR);
	free(junk);
}
END_TEST

/* A response built from a parsed request parses back with the copied headers and a correct length. */
START_TEST(builder_round_trip)
{
	static const char req[] = "INVITE sip:bob@biloxi.com SIP/2.0\r\n"
				  "Via: SIP/2.0/UDP pc33.atlanta.com;branch=z9hG4bK776asdhds\r\n"
				  "Via: SIP/2.0/UDP p2.atlanta.com;branch=z9hG4bK2\r\n"
				  "Max-Forwards: 70\r\nTo: Bob <sip:bob@biloxi.com>\r\n"
				  "From: Alice <sip:alice@atlanta.com>;tag=1928301774\r\n"
				  "Call-ID: a84b4c76e66710@pc33.atlanta.com\r\nCSeq: 314159 INVITE\r\n"
				  "Contact: <sip:alice@pc33.atlanta.com>\r\nContent-Length: 0\r\n\r\n";
	static struct sip_msg resp;
	struct sip_builder b;
	char out[2048];
	const char sdp[] = "v=0\r\n";
	int n;

	ck_assert_int_eq(sip_msg_parse(&msg, req, sizeof(req) - 1), 0);
	sip_build_response(&b, out, sizeof(out), 180, NULL);
	sip_build_copy_hdrs(&b, &msg, SIP_HDR_VIA);
	sip_build_copy_hdrs(&b, &msg, SIP_HDR_FROM);
	sip_build_hdrf(&b, "To", "%.*s;tag=%s", (int)sip_msg_hdr(&msg, SIP_HDR_TO)->value.len,
		       sip_msg_hdr(&msg, SIP_HDR_TO)->value.p, "a6c85cf");
	sip_build_copy_hdrs(&b, &msg, SIP_HDR_CALL_ID);
	sip_build_copy_hdrs(&b, &msg, SIP_HDR_CSEQ);
	n = sip_build_finish(&b, "application/sdp", (struct sip_str){ sdp, sizeof(sdp) - 1 });
	ck_assert_int_gt(n, 0);
	ck_assert_int_eq(sip_msg_parse(&resp, out, (size_t)n), 0);
	ck_assert_int_eq(sip_msg_validate(&resp), 0);
	ck_assert_uint_eq(resp.status, 180);
	ck_assert(sip_str_eq(resp.reason, "Ringing"));
	ck_assert_uint_eq(sip_msg_hdr_count(&resp, SIP_HDR_VIA), 2);
	ck_assert(sip_str_eq(resp.body, "v=0\r\n"));
	ck_assert(sip_str_eq(sip_msg_hdr(&resp, SIP_HDR_CONTENT_TYPE)->value, "application/sdp"));

	sip_build_request(&b, out, 40, "OPTIONS", SIP_STR("sip:bob@biloxi.com"));
	sip_build_hdrf(&b, "Call-ID", "%s", "a-call-id-that-will-not-fit-into-forty-bytes");
	ck_assert_int_eq(sip_build_finish(&b, NULL, (struct sip_str){ "", 0 }), -ENOSPC);
}
END_TEST

/* The builder writes the usual formats itself (no printf): the same text as snprintf, truncation included. */
static int fmt_both(char *ours, char *ref, size_t cap, const char *fmt, ...)
{
	va_list ap, ap2;
	int a, b;

	va_start(ap, fmt);
	va_copy(ap2, ap);
	a = sip_vsnprintf(ours, cap, fmt, ap);
	b = vsnprintf(ref, cap, fmt, ap2);
	va_end(ap2);
	va_end(ap);
	ck_assert_str_eq(ours, ref);
	return (a >= (int)cap) == (b >= (int)cap) ? 0 : -1;
}

START_TEST(builder_formats)
{
	char ours[64], ref[64];
	struct sip_builder b;
	char buf[256] = "";
	int n;

	ck_assert_int_eq(fmt_both(ours, ref, sizeof(ours), "<%s>;tag=%s", "sip:a@b", "x1"), 0);
	ck_assert_int_eq(fmt_both(ours, ref, sizeof(ours), "%u %s", 4294967295u, "INVITE"), 0);
	ck_assert_int_eq(fmt_both(ours, ref, sizeof(ours), "%d|%d|%zu|%lu|%llu|100%%", -2147483647 - 1, 0,
				  (size_t)12345, 9876543210ul, 18446744073709551615ull), 0);
	ck_assert_int_eq(fmt_both(ours, ref, sizeof(ours), "[%.*s][%.*s]", 3, "abcdef", 10, "ab"), 0);
	ck_assert_int_eq(fmt_both(ours, ref, sizeof(ours), "%016llx %5u", 0xabcull, 7u), 0); /* printf's path */
	ck_assert_int_eq(fmt_both(ours, ref, 8, "%s-%u", "abcdef", 12345u), 0);             /* truncated */
	sip_build_request(&b, buf, sizeof(buf), "BYE", SIP_STR("sip:b@h"));
	sip_build_hdrf(&b, "CSeq", "%u %s", 7u, "BYE");
	sip_build_hdrf(&b, "X", "%.*s;%d", 2, "abc", -5);
	sip_build_hdrf(&b, "Y", "%s=%08x", "n", 255u); /* printf's path after the simple one wrote "n=" */
	n = sip_build_finish(&b, NULL, (struct sip_str){ "", 0 });
	ck_assert_int_gt(n, 0);
	ck_assert_str_eq(buf, "BYE sip:b@h SIP/2.0\r\nCSeq: 7 BYE\r\nX: ab;-5\r\nY: n=000000ff\r\nContent-Length: 0\r\n\r\n");
}
END_TEST

/* The character-class table against the grammar written out (RFC 3261 §25.1), for all 256 octets. */
START_TEST(char_classes)
{
	for (int i = 0; i < 256; i++) {
		unsigned char c = (unsigned char)i;
		bool alnum = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
		bool token = alnum || (c && strchr("-.!%*_+`'~", c));
		bool unreserved = alnum || (c && strchr("-_.!~*'()", c));
		bool param = token || (c && strchr("[]/:&+$()", c));
		bool hex = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');

		ck_assert_msg(sip_is_alnum(c) == alnum, "alnum %d", i);
		ck_assert_msg(sip_is_token(c) == token, "token %d", i);
		ck_assert_msg(sip_is_unreserved(c) == unreserved, "unreserved %d", i);
		ck_assert_msg(sip_is_param_char(c) == param, "param %d", i);
		ck_assert_msg(sip_is_hex(c) == hex, "hex %d", i);
	}
}
END_TEST

/* The 16-octet split scan stops where the one-octet class says, for every octet at every offset around the
 * steps (ahead of the tail loop and in it). */
START_TEST(scanners_match_classes)
{
	char buf[48];

	for (int i = 0; i < 256; i++) {
		unsigned char c = (unsigned char)i;
		bool split = c && strchr("\"<>,", c);

		for (size_t at = 0; at < sizeof(buf); at++) {
			memset(buf, 'a', sizeof(buf));
			buf[at] = (char)c;
			ck_assert_msg(sip_find_split(buf, buf + sizeof(buf)) == (split ? buf + at : buf + sizeof(buf)),
				      "split scan: octet %d at %zu", i, at);
			ck_assert(sip_find_split(buf, buf + at) == buf + at); /* a shorter range ends before it */
		}
	}
}
END_TEST

/* The inline case-insensitive compare is strncasecmp in the C locale for every pair of octets but NUL. */
START_TEST(ascii_caseeq)
{
	for (int a = 1; a < 256; a++)
		for (int b = 1; b < 256; b++) {
			char x[2] = { (char)a, 'k' }, y[2] = { (char)b, 'K' };
			ck_assert_msg(sip_ascii_caseeq(x, y, 2) == (strncasecmp(x, y, 2) == 0), "%d %d", a, b);
		}
	ck_assert(sip_str_caseeq(SIP_STR("BrAnCh"), "branch"));
	ck_assert(!sip_str_caseeq(SIP_STR("branc"), "branch"));
	ck_assert(!sip_str_caseeq(SIP_STR("branc["), "branc{"));
}
END_TEST

/* Header names to ids through the length index: full names in any case, compact forms, unknown names of a
 * known length, and repeated headers (full and compact mixed) found in order. */
START_TEST(header_ids)
{
	static const char m[] = "SIP/2.0 200 OK\r\nv: SIP/2.0/UDP a;branch=z9hG4bK1\r\nVIA: SIP/2.0/UDP b;branch=z9hG4bK2\r\n"
				"f: <sip:a@b>;tag=1\r\nTO: <sip:c@d>\r\ni: x\r\ncseq: 1 INVITE\r\nX-Via: no\r\n"
				"Viaa: no\r\nRecord-route: <sip:p;lr>\r\nrecord-ROUTE: <sip:q;lr>\r\nk: timer\r\n"
				"Proxy-Authorization: x\r\nL: 0\r\n\r\n";
	static const struct {
		const char *name;
		enum sip_hdr_id id;
	} names[] = {
		{ "via", SIP_HDR_VIA }, { "V", SIP_HDR_VIA }, { "content-length", SIP_HDR_CONTENT_LENGTH },
		{ "l", SIP_HDR_CONTENT_LENGTH }, { "Session-Expires", SIP_HDR_SESSION_EXPIRES }, { "X", SIP_HDR_SESSION_EXPIRES },
		{ "PROXY-AUTHENTICATE", SIP_HDR_PROXY_AUTHENTICATE }, { "proxy-authorization", SIP_HDR_PROXY_AUTHORIZATION },
		{ "WWW-Authenticate", SIP_HDR_WWW_AUTHENTICATE }, { "Content-Encoding", SIP_HDR_CONTENT_ENCODING },
		{ "Vib", SIP_HDR_OTHER }, { "q", SIP_HDR_OTHER }, { "[", SIP_HDR_OTHER }, { "", SIP_HDR_OTHER },
		{ "Require", SIP_HDR_REQUIRE }, { "Reqvire", SIP_HDR_OTHER }, { "a-very-long-unknown-header-name", SIP_HDR_OTHER },
	};
	const struct sip_hdr *h;

	for (size_t i = 0; i < CM_ARRAY_SIZE(names); i++)
		ck_assert_msg(sip_hdr_id_from_name((struct sip_str){ names[i].name, strlen(names[i].name) }) == names[i].id,
			      "%s", names[i].name);
	for (int i = 1; i < SIP_HDR__COUNT; i++) {
		const char *n = sip_hdr_name((enum sip_hdr_id)i);
		ck_assert_int_eq(sip_hdr_id_from_name((struct sip_str){ n, strlen(n) }), i);
	}
	ck_assert_int_eq(sip_msg_parse(&msg, m, sizeof(m) - 1), 0);
	ck_assert_uint_eq(sip_msg_hdr_count(&msg, SIP_HDR_VIA), 2);
	h = sip_msg_hdr(&msg, SIP_HDR_VIA);
	ck_assert(sip_str_eq(h->value, "SIP/2.0/UDP a;branch=z9hG4bK1"));
	h = sip_msg_next_hdr(&msg, h);
	ck_assert(sip_str_eq(h->value, "SIP/2.0/UDP b;branch=z9hG4bK2"));
	ck_assert_ptr_null(sip_msg_next_hdr(&msg, h));
	ck_assert_uint_eq(sip_msg_hdr_count(&msg, SIP_HDR_RECORD_ROUTE), 2);
	ck_assert_uint_eq(sip_msg_hdr_count(&msg, SIP_HDR_OTHER), 2); /* X-Via, Viaa */
	h = sip_msg_hdr_by_name(&msg, "x-via");
	ck_assert(h && sip_str_eq(h->value, "no"));
	ck_assert_ptr_null(sip_msg_next_hdr(&msg, h)); /* Viaa is another unknown header */
	ck_assert(sip_str_eq(sip_msg_hdr(&msg, SIP_HDR_SUPPORTED)->value, "timer"));
	ck_assert(sip_str_eq(sip_msg_hdr(&msg, SIP_HDR_CALL_ID)->value, "x"));
	ck_assert_ptr_nonnull(sip_msg_hdr(&msg, SIP_HDR_PROXY_AUTHORIZATION));
}
END_TEST

/* Line ends at every offset around the 16-octet steps of the CR/LF scan: CRLF and bare LF accepted, a bare CR
 * anywhere in a header line rejected. */
START_TEST(line_ends_at_every_offset)
{
	char m[256], name[64];

	for (int pad = 0; pad < 40; pad++)
		for (int kind = 0; kind < 3; kind++) {
			int n;
			memset(name, 'a', (size_t)pad);
			name[pad] = '\0';
			n = snprintf(m, sizeof(m), "OPTIONS sip:a@b SIP/2.0\r\nX: %s%s\nl: 0\r\n\r\n", name,
				     kind == 0 ? "\r" : kind == 1 ? "" : "\rz");
			ck_assert_int_eq(sip_msg_parse(&msg, m, (size_t)n), kind == 2 ? -EINVAL : 0);
			if (kind < 2)
				ck_assert_uint_eq(sip_msg_hdr_by_name(&msg, "X")->value.len, (size_t)pad);
		}
}
END_TEST

static Suite *sip_suite(void)
{
	Suite *s = suite_create("sip_parse");
	TCase *tc = tcase_create("messages");

	tcase_add_loop_test(tc, table, 0, (int)CM_ARRAY_SIZE(cases));
	tcase_add_test(tc, wsinv_values);
	tcase_add_test(tc, datagram_trailing_octets_and_nuls);
	tcase_add_test(tc, uris);
	tcase_add_test(tc, via_received_rport);
	tcase_add_test(tc, header_count_limit);
	tcase_add_test(tc, long_values);
	tcase_add_test(tc, stream_framing);
	tcase_add_test(tc, builder_round_trip);
	tcase_add_test(tc, builder_formats);
	tcase_add_test(tc, char_classes);
	tcase_add_test(tc, scanners_match_classes);
	tcase_add_test(tc, ascii_caseeq);
	tcase_add_test(tc, header_ids);
	tcase_add_test(tc, line_ends_at_every_offset);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return run_suite(sip_suite());
}
