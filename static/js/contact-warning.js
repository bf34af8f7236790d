// Composer warning: "this looks like contact details" while someone types a message.
//
// A port of privacy/detection.py (the server is the authority; this is a hint): the same
// word lists, the same regular expressions and the same decisions, so the composer warns
// about what the server would flag. tests/privacy/test_detection_js.py runs the shared
// samples and the corpus through both and checks that they agree, and that every pattern
// and word list here is the Python one.
//
// On the page: the textarea of form#composer gets a <p class="contact-warning" role="status">
// after it, shown while the text holds contact details (checked 200 ms after typing stops).
// #thread-page[data-private-box="open"] means the Private Information box is already open
// to this conversation; otherwise it opens once a premium service offer is accepted.
(function () {
  "use strict";

  // ------------------------------------------------------------------ helpers

  function w(s) {
    return new Set(s.split(/\s+/).filter(Boolean));
  }

  // Case-insensitive alternatives without an inline flag, as Python's _ci().
  function ci(words) {
    return words.split(/\s+/).filter(Boolean).map(function (word) {
      return word.split("").map(function (c) {
        var lo = c.toLowerCase(), up = c.toUpperCase();
        if (lo !== up) return "[" + lo + up + "]";
        return /[\\^$.*+?()[\]{}|\/-]/.test(c) ? "\\" + c : c;
      }).join("");
    }).join("|");
  }

  var PATTERNS = {};

  // A regular expression used like Python's: match at a position, search or iterate
  // between two positions (the text is cut at the end; look-behinds see before the start).
  function Rx(name, source, flags) {
    PATTERNS[name] = source;
    this.g = new RegExp(source, "g" + (flags || ""));
    this.y = new RegExp(source, "y" + (flags || ""));
  }
  Rx.prototype.match = function (text, pos) {
    this.y.lastIndex = pos || 0;
    return wrap(this.y.exec(text));
  };
  Rx.prototype.finditer = function (text, pos, endpos) {
    var sub = endpos === undefined || endpos >= text.length ? text : text.slice(0, endpos);
    var out = [], m;
    this.g.lastIndex = pos || 0;
    while ((m = this.g.exec(sub)) !== null) {
      out.push(wrap(m));
      if (m[0].length === 0) this.g.lastIndex++;
    }
    return out;
  };
  Rx.prototype.search = function (text, pos, endpos) {
    var sub = endpos === undefined || endpos >= text.length ? text : text.slice(0, endpos);
    this.g.lastIndex = pos || 0;
    return wrap(this.g.exec(sub));
  };

  function wrap(m) {
    if (m === null) return null;
    return {
      start: m.index,
      end: m.index + m[0].length,
      text: m[0],
      groups: m.groups || {},
    };
  }

  function isUpper(c) {
    return !!c && c !== c.toLowerCase() && c === c.toUpperCase();
  }
  function isDigit(c) {
    return !!c && c >= "0" && c <= "9";
  }
  var ALNUM = /[\p{L}\p{N}]/u;
  var SPACE = /\s/;

  function bisectLeft(a, x) {
    var lo = 0, hi = a.length;
    while (lo < hi) {
      var mid = (lo + hi) >> 1;
      if (a[mid] < x) lo = mid + 1; else hi = mid;
    }
    return lo;
  }
  function bisectRight(a, x) {
    var lo = 0, hi = a.length;
    while (lo < hi) {
      var mid = (lo + hi) >> 1;
      if (x < a[mid]) hi = mid; else lo = mid + 1;
    }
    return lo;
  }

  function finding(kind, start, end, text) {
    return { kind: kind, start: start, end: end, text: text.slice(start, end) };
  }

  // ------------------------------------------------------------------ word lists

  var WORDS = {};
  var ABBREVIATED_SUFFIXES = (WORDS.ABBREVIATED_SUFFIXES = w(
    "av ave blvd cir cres ct dr expy fwy gdns hts hwy ln pkwy pl pt rd sq st ter tpke trl"
  ));
  var ADDRESS_CUE_WORDS = (WORDS.ADDRESS_CUE_WORDS = w(
    "address bring come courier deliver live living mail pick post reside residing send " +
    "ship stay staying visit"
  ));
  var ADDR_STOP = (WORDS.ADDR_STOP = w(
    "a about additional am an and any approx approximately are around at bath bathroom " +
    "bathrooms be bed bedroom bedrooms been block blocks by caps car cars cats cm cups " +
    "day days did different do does dogs door doors dose doses drops each every exit " +
    "exits extra feet few floors foot for from ft g gb glasses had has have he her his " +
    "hour hours hrs i in inch inches is it just kb kg kids km kmh kms kph lane lanes lb " +
    "lbs less level levels like m many mb me meters metres mg mi mile miles min mins " +
    "minute minutes ml mm month months more most mph my new no not of old on only or " +
    "other others our over oz past people per pill pills pm puffs really rooms sec " +
    "seconds secs separate several she shots some spoons sprays stairs steps stop stops " +
    "storey stories story straight tablet tablets tabs tb than that the their them these " +
    "they this those time times to under unit units us very was we week weeks were with x " +
    "yards yd year years you your"
  ));
  var ALL_SUFFIXES = (WORDS.ALL_SUFFIXES = w(
    "alley av ave avenue bend blvd boulevard broadway cir circle close commons court cove " +
    "cres crescent crossing ct dr drive end estate expressway expy freeway fwy gardens " +
    "gate gdns green grove heights highway hill hts hwy landing lane ln loop mews park " +
    "parkway path pike pkwy pl place plaza point pt quay rd ridge rise road row run sq " +
    "square st street ter terrace tpke trail trl turnpike vale view walk way wharf"
  ));
  var AT_HANDLE_STOP = (WORDS.AT_HANDLE_STOP = w(
    "admin admins all channel everyone help here home mention mentions moderator " +
    "moderators mods support team there work"
  ));
  var CONTINENTAL_WORDS = (WORDS.CONTINENTAL_WORDS = w(
    "allée av avenida avenue bd boulevard calle carrer chemin corso cours impasse paseo " +
    "piazza place plaza quai rua rue via viale"
  ));
  var COURT_WORDS = (WORDS.COURT_WORDS = w(
    "appeals appellate bankruptcy circuit civil claims county criminal crown district " +
    "divorce family federal high housing juvenile magistrate magistrates municipal " +
    "probate small superior supreme tax traffic"
  ));
  var EMAIL_LOCAL_STOP = (WORDS.EMAIL_LOCAL_STOP = w(
    "account accounts agent anyone are arrive arrived available be been boss bought " +
    "brother buy check colleague colleagues cousin dad daughter employee engineer " +
    "everyone find folks found friend friends guy guys her here him home husband i'm im " +
    "intern is issue issues it job lady listed live living log login look looking manager " +
    "mate mates me meet meeting mom mum nobody online order ordered people person post " +
    "posted problem problems read register registered rep school see shop shopping sign " +
    "signed sister sold somebody someone son staff stay staying team that them there " +
    "these they this those us was we're were wife work worked working works you you're"
  ));
  var FILLER = (WORDS.FILLER = w(
    "a actual an are complete for full given her his is it's its listed my new of " +
    "official old on original our reads said says showed shows that the their this was " +
    "were your"
  ));
  var FREEMAIL = (WORDS.FREEMAIL = w(
    "126 163 aol att bellsouth btinternet charter comcast cox earthlink fastmail free " +
    "gmail gmx googlemail hey hotmail icloud inbox laposte libero live mac mail mailfence " +
    "me msn orange outlook pm proton protonmail qq rocketmail sbcglobal sky t-online " +
    "talktalk tuta tutanota verizon virginmedia wanadoo web yahoo yandex ymail zoho"
  ));
  var HANDLE_STOP = (WORDS.HANDLE_STOP = w(
    "a account accounts actually ads after again all also always an and annoying any " +
    "anything app apps are as at audio available bad banned be because been before best " +
    "better blocked both broken buggy business but by call calls camera can't cannot " +
    "channel channels chat chats closed connected crash crashes crashing dead definitely " +
    "deleted desktop different disabled dm dms doesn't down easy either empty enabled " +
    "encrypted error errors everything fast feed fine fixed for free from frozen full " +
    "glitchy gone good great group groups hacked hard he help her here his how i if in " +
    "inbox installed is isn't issue issues it its just keeps lagging laggy link linked " +
    "links live locked log login mainly marketplace maybe me message messages mic " +
    "microphone mobile mostly my needed neither never new no none not nothing " +
    "notifications of off official ok okay old on only open optional or our out outdated " +
    "page pages paid password perhaps personal phone post posts private probably problem " +
    "problems profile public quite really reels required restricted safe same screen " +
    "secure server servers set setting settings share sharing she sign since slow so some " +
    "something sometimes status still stories story strange strong support suspended team " +
    "that the their them there they this to too turned unavailable uninstalled unlocked " +
    "unsafe until unverified up update updated updates us usually verified version very " +
    "video voice was we weak web weird were what when where which while who why with " +
    "won't work working works worse worst yes you your"
  ));
  var LABELS = (WORDS.LABELS = w(
    "a/c accession account acct application asin awb barcode batch bay bic bill bios " +
    "booking build card case cases catalog catalogue cert certificate chassis check " +
    "checksum cheque citation claim claims code conf confirmation consignment contract " +
    "coupon cusip deed dock docket ean ein employee engine error estimate file firmware " +
    "flight folio gate gtin hash iban id identifier ids imei incident index inv invoice " +
    "invoices ip isbn item items kb licence license lot mac matter md5 member membership " +
    "meter model mrn ndc nhs nino ord order orders p/n package parcel part passport " +
    "patient permit pin plate pn pnr po policy postal postcode prescription product quote " +
    "receipt record ref reference reg registration report req request reservation rev " +
    "revision rma room routing rx s/n sample seat sequence serial sha shipment sin sku sn " +
    "sort specimen ssn statement student supplier swift tax ticket tickets tin tkt track " +
    "tracking transaction trk txn upc utr vendor ver version vin voucher warranty waybill " +
    "zip"
  ));
  var LC_SUFFIXES = (WORDS.LC_SUFFIXES = w(
    "ave avenue blvd boulevard crescent highway hwy lane ln parkway pkwy rd road st " +
    "street terrace"
  ));
  var LOCAL_TLDS = (WORDS.LOCAL_TLDS = w(
    "arpa corp example home internal invalid lan local localdomain localhost test"
  ));
  var MEETING_ID_WORDS = (WORDS.MEETING_ID_WORDS = w("bluejeans conference gotomeeting meeting teams webex zoom"));
  var MEET_CODE_WORDS = (WORDS.MEET_CODE_WORDS = w("code google hangout hangouts"));
  var NANP_TOLLFREE = (WORDS.NANP_TOLLFREE = w("800 822 833 844 855 866 877 888"));
  var NUMBER_CONTEXT_STOP = (WORDS.NUMBER_CONTEXT_STOP = w(
    "appendix art article bus ch chapter class clause episode exit fig figure form grade " +
    "item level line model no number page para paragraph part phase q question round " +
    "route rule schedule season sec section stage step table tier title type version vol " +
    "volume"
  ));
  var NUMBER_WORDS = (WORDS.NUMBER_WORDS = w("# #s line lines nbr no nr num number numbers"));
  var OWNABLE = (WORDS.OWNABLE = w(
    "agency bakery business cafe clinic clinics company dealership desk firm garage lab " +
    "office offices practice restaurant salon shop shops store stores studio surgery " +
    "workshop"
  ));
  var OWN_LINES = (WORDS.OWN_LINES = w(
    "business cell cellphone clinic contact desk direct fax home landline mobile new " +
    "office old own personal phone practice private shop whatsapp work"
  ));
  var PERSONAL = (WORDS.PERSONAL = w("me mine my myself our ourselves us"));
  var PERSONAL_LINES = (WORDS.PERSONAL_LINES = w(
    "business contact direct home new old own personal private work"
  ));
  var PERSONAL_PLACE = (WORDS.PERSONAL_PLACE = w(
    "apartment apt bring condo courier deliver flat home house i i'm im live lived lives " +
    "living mail me mine move moved moving my our post reside resides residing send ship " +
    "stay staying us visit we we're"
  ));
  var PHONE_CUES = (WORDS.PHONE_CUES = w(
    "call called calling calls cell cellphone contact contacts dial fax landline mms mob " +
    "mobile ph phone phones reach ring rings signal sms tel tele telegram telephone text " +
    "texting texts txt viber whatsapp"
  ));
  var PHONE_MESSAGE_WORDS = (WORDS.PHONE_MESSAGE_WORDS = w(
    "call called calling calls cell cellphone contact contacts dial digits fax landline " +
    "mms mob mobile number ph phone phones reach ring rings signal sms tel tele telegram " +
    "telephone text texting texts txt viber whatsapp"
  ));
  var PHONE_VERBS = (WORDS.PHONE_VERBS = w(
    "call called calling calls dial mms reach ring rings sms text texting texts txt"
  ));
  var PLACEHOLDER_LOCALS = (WORDS.PLACEHOLDER_LOCALS = w(
    "bar ec2user email emailaddress example foo git localuser me name pi root somebody " +
    "someone test ubuntu user username you youremail yourname yourusername"
  ));
  var PLACE_LINKS = (WORDS.PLACE_LINKS = w("at on"));
  var COPULAS = (WORDS.COPULAS = w("are is sits stands was were"));
  var PLATFORM_WORDS = (WORDS.PLATFORM_WORDS = w(
    "bluesky bsky discord facebook facetime fb ig imessage insta instagram kakao " +
    "kakaotalk kik line linkedin mastodon messenger reddit signal skype snap snapchat " +
    "telegram threads threema tik tiktok twitch twitter viber wechat whats whatsapp x"
  ));
  var POSSESSIVE_FIRST = (WORDS.POSSESSIVE_FIRST = w("my our"));
  var PRONOUNS = (WORDS.PRONOUNS = w(
    "he he's i i'm im me my our she she's they they're us we we're you you're"
  ));
  var PUBLIC = (WORDS.PUBLIC = w(
    "a&e aaa aarp acas administration advice aetna agency airport allstate amazon amex " +
    "apple arena aspca association at&t att authority bank bestbuy bluecross bmw board " +
    "branch building bureau business cafe campus capitol care carrier cathedral cdc " +
    "cemetery center centre charity chase chevrolet chevy childline church cigna citi " +
    "citibank citizens clerk clinic clinics cms college comcast commission company " +
    "consulate corp costco council court courthouse crisis cvs dealer dealers dealership " +
    "dell dentist department depot dept desk dhl dispensary dmv dvla embassy emergencies " +
    "emergency er fbi fda fedex fire firm ford foundation freephone front ftc gallery " +
    "garage geek geico general gm gmbh google gov government gp gym hall headquarters " +
    "help-desk helpdesk helpline helplines hmrc hoa honda hospital hospitals hotel " +
    "hotline hotlines hp hq humana hyundai ikea inc institute insurance insurer irs jail " +
    "kaiser kia lab laboratory leasing lenovo library lifeline llc lowe lowes ltd mall " +
    "management manufacturer market mastercard mazda mcdonald medicaid medicare memorial " +
    "microsoft ministry monument mosque museum nami nhs nissan non-emergency office " +
    "offices ombudsman organisation organization outlet palace parenthood park parliament " +
    "paypal pharmacist pharmacy plaza plc poison police practice precinct prison " +
    "progressive provider reception receptionist registry restaurant royal rspca salon " +
    "samaritans samsung school service services shelter sheriff shop shops showroom " +
    "society sony sprint squad ssa stadium starbucks station store stores subaru " +
    "supermarket support surgery switchboard synagogue t-mobile target temple terminal " +
    "tesla theater theatre tmobile toll-free tollfree tower toyota unitedhealthcare " +
    "university ups urgent usps utility va venue verizon vet veterinarian veterinary vets " +
    "visa volkswagen vw walgreens walmart ward warehouse xfinity zoo"
  ));
  var ROLE_LOCALS = (WORDS.ROLE_LOCALS = w(
    "abuse accounting accounts admin alerts appeals appointments billing booking bookings " +
    "care careers claims complaints compliance contact contactus customercare customers " +
    "customerservice disputes donations donotreply dpo editor editors enquire enquiries " +
    "enquiry ethics feedback foia frontdesk gdpr general hello help helpdesk hi hr info " +
    "information inquiries inquiry investors jobs legal licensing mail marketing media " +
    "members membership news newsletter noreply notifications office orders partners " +
    "permissions postmaster press privacy recall recalls reception records refunds " +
    "registrar reservations returns sales security service services support team tips " +
    "warranties warranty webmaster"
  ));
  var TLDS = (WORDS.TLDS = w(
    "agency ai app ar asia at au be biz blog br ca care ch clinic cloud cn co com cz de " +
    "dev dk edu eg email es eu fi fr gg gov gr health hr hu ie il in info int io it jp ke " +
    "kr law legal life live ly mail me media mil mx name net ng nl no nz online org page " +
    "pl pro pt ro rs ru se shop si site sk store studio tech tr tv ua uk us vet works xyz " +
    "za"
  ));
  var WEBMAIL = (WORDS.WEBMAIL = w(
    "aol gmail gmx googlemail hotmail icloud outlook protonmail yahoo ymail"
  ));
  var WORKPLACE = (WORDS.WORKPLACE = w("employed employer job work worked working works"));

  var PRIORITY = { email: 0, meeting_link: 1, handle: 2, phone: 3, address: 4 };
  var KINDS = ["phone", "email", "handle", "meeting_link", "address"];
  var WINDOW = 90;

  // ------------------------------------------------------------------ the message

  var WORD_SCAN = /[\p{L}][\p{L}\p{N}_'’]*/gu;
  var WHITESPACE_RE = new Rx("WHITESPACE_RE", "\\s");
  var SPACES = /[\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff]/g;
  // Full-width forms ("＠", "０７７００") read as their ASCII letters, one for one.
  var FULLWIDTH = /[\uff01-\uff5e]/g;
  function halfwidth(c) { return String.fromCharCode(c.charCodeAt(0) - 0xfee0); }
  var BOUNDARY_RE = new Rx(
    "BOUNDARY_RE", "[!?;\\n\\r]|\\.(?:(?<=\\d\\.)|(?<=[A-Za-z]{4}\\.)|(?=\\s+[A-Z]))\\s+");
  var TOKEN_RE = new Rx("TOKEN_RE", "#|[A-Za-z0-9][A-Za-z0-9'’&/+-]*(?:\\.[A-Za-z0-9]+)*");

  function lowerKeepingLength(text) {
    var lower = text.toLowerCase();
    if (lower.length === text.length) return lower;
    return Array.from(text).map(function (c) {
      var l = c.toLowerCase();
      return l.length === c.length ? l : c;
    }).join("");
  }

  function normToken(tok) {
    if (tok.indexOf("'") < 0 && tok.indexOf("’") < 0) return tok.toLowerCase();
    tok = tok.toLowerCase().replace(/’/g, "'");
    if (tok.length > 2 && tok.slice(-2) === "'s") tok = tok.slice(0, -2);
    return tok.replace(/'+$/, "");
  }

  function Scan(text) {
    this.text = text;
    this.lower = lowerKeepingLength(text);
    this.words = new Map();
    var m;
    WORD_SCAN.lastIndex = 0;
    while ((m = WORD_SCAN.exec(this.lower)) !== null) {
      if (!this.words.has(m[0])) this.words.set(m[0], []);
      this.words.get(m[0]).push([m.index, m.index + m[0].length]);
    }
    this.indexed = false;
  }
  Scan.prototype.spans = function (vocab) {
    var found = [], self = this;
    vocab.forEach(function (word) {
      var s = self.words.get(word);
      if (s) found.push.apply(found, s);
    });
    return found;
  };
  Scan.prototype.has = function (vocab) {
    var self = this, yes = false;
    vocab.forEach(function (word) { if (self.words.has(word)) yes = true; });
    return yes;
  };
  Scan.prototype.occurrences = function (needle) {
    var found = [], i = this.lower.indexOf(needle);
    while (i >= 0) {
      found.push(i);
      i = this.lower.indexOf(needle, i + 1);
    }
    return found;
  };
  Scan.prototype.tokenEnd = function (pos) {
    var m = WHITESPACE_RE.search(this.text, pos);
    return m ? m.start : this.text.length;
  };
  Scan.prototype.indexContext = function () {
    var bounds = BOUNDARY_RE.finditer(this.text);
    this.boundStarts = bounds.map(function (b) { return b.start; });
    this.boundEnds = bounds.map(function (b) { return b.end; });
    var tokens = TOKEN_RE.finditer(this.text);
    this.tokStarts = tokens.map(function (t) { return t.start; });
    this.tokEnds = tokens.map(function (t) { return t.end; });
    this.tokRaw = tokens.map(function (t) { return t.text; });
    this.tokNorm = new Array(tokens.length);
    this.indexed = true;
  };
  Scan.prototype.clauseStart = function (pos) {
    if (!this.indexed) this.indexContext();
    var k = bisectRight(this.boundEnds, pos) - 1;
    return Math.max(k >= 0 ? this.boundEnds[k] : 0, pos - WINDOW, 0);
  };
  Scan.prototype.clauseEnd = function (pos) {
    if (!this.indexed) this.indexContext();
    var k = bisectLeft(this.boundStarts, pos);
    var end = k < this.boundStarts.length ? this.boundStarts[k] : this.text.length;
    return Math.min(end, pos + WINDOW);
  };
  Scan.prototype.clauseBefore = function (pos) {
    return this.text.slice(this.clauseStart(pos), pos);
  };
  Scan.prototype.clauseAfter = function (pos) {
    return this.text.slice(pos, this.clauseEnd(pos));
  };
  Scan.prototype.norm = function (i) {
    if (this.tokNorm[i] === undefined) this.tokNorm[i] = normToken(this.tokRaw[i]);
    return this.tokNorm[i];
  };
  Scan.prototype.rawTokensBefore = function (pos, limit) {
    limit = limit || 8;
    var start = this.clauseStart(pos), i = bisectRight(this.tokEnds, pos) - 1, found = [];
    while (i >= 0 && found.length < limit && this.tokStarts[i] >= start) {
      found.push(this.tokRaw[i]);
      i--;
    }
    return found;
  };
  Scan.prototype.tokensBefore = function (pos, limit) {
    limit = limit || 8;
    var start = this.clauseStart(pos), i = bisectRight(this.tokEnds, pos) - 1, found = [];
    while (i >= 0 && found.length < limit && this.tokStarts[i] >= start) {
      found.push(this.norm(i));
      i--;
    }
    return found;
  };
  Scan.prototype.tokensAfter = function (pos, limit) {
    limit = limit || 5;
    var end = this.clauseEnd(pos), i = bisectLeft(this.tokStarts, pos), found = [];
    while (i < this.tokStarts.length && found.length < limit && this.tokEnds[i] <= end) {
      found.push(this.norm(i));
      i++;
    }
    return found;
  };

  function windows(spans, before, after, limit) {
    var sorted = spans.slice().sort(function (a, b) { return a[0] - b[0] || a[1] - b[1]; });
    var merged = [];
    sorted.forEach(function (s) {
      var a = Math.max(0, s[0] - before), b = Math.min(limit, s[1] + after);
      var last = merged[merged.length - 1];
      if (last && a <= last[1]) last[1] = Math.max(last[1], b);
      else merged.push([a, b]);
    });
    return merged;
  }

  function search(regex, text, wins) {
    var out = [];
    wins.forEach(function (win) {
      out.push.apply(out, regex.finditer(text, win[0], win[1]));
    });
    return out;
  }

  // ------------------------------------------------------------------ context words

  var UNIT_AFTER_RE = new Rx(
    "UNIT_AFTER_RE",
    "\\s?(?:mg|mcg|ug|kg|grams?|ml|mls|cc|iu|units?|mmol|meq|mm|cm|km|" +
      "miles?|kms?|ft|feet|inch(?:es)?|yds?|yards?|lbs?|pounds?|oz|ounces?|" +
      "tons?|tonnes?|psi|rpm|hp|kw|kwh|volts?|amps?|mah|mph|kph|hz|khz|mhz|" +
      "ghz|gb|mb|kb|tb|bytes|bits|px|dpi|calories|kcal|usd|eur|gbp|cad|aud|" +
      "dollars?|bucks|euros?|pence|cents?|percent|degrees?|times|people|" +
      "sqft|acres?|hectares?|seconds?|secs?|minutes?|mins?|hours?|hrs?|" +
      "years?|yrs?|views|likes|followers|words|pages|rows|records|results)\\b|[ \\t]?[%°]",
    "i"
  );
  var CURRENCY_BEFORE_RE = new Rx(
    "CURRENCY_BEFORE_RE",
    "(?:[$€£¥₹₩₽]|\\b(?:usd|eur|gbp|cad|aud|rs|inr|chf|sek|nok|dkk|jpy|cny|mxn|brl))\\s*$",
    "i"
  );

  // After a phone word, further back in the clause: an organisation ("the pharmacy said
  // call back at ...") makes it their line; a person ("me", "she", "my") keeps it a cue.
  function cueOrPublic(tokens, start) {
    for (var j = start; j < tokens.length; j++) {
      var tok = tokens[j];
      if (PERSONAL.has(tok) || PRONOUNS.has(tok)) return "cue";
      if (PUBLIC.has(tok)) {
        var left = j + 1 < tokens.length ? tokens[j + 1] : "";
        return POSSESSIVE_FIRST.has(left) && OWNABLE.has(tok) ? "cue" : "public";
      }
    }
    return "cue";
  }

  function ownerBefore(tokens, cues) {
    var adjacent = true;
    for (var i = 0; i < tokens.length; i++) {
      var tok = tokens[i];
      var left = i + 1 < tokens.length ? tokens[i + 1] : "";
      if (PERSONAL.has(tok) && i <= (POSSESSIVE_FIRST.has(tok) ? 4 : 3)) return "personal";
      if (NUMBER_WORDS.has(tok) || cues.has(tok)) {
        if (POSSESSIVE_FIRST.has(left)) return "personal";
        var owner = i + 2 < tokens.length ? tokens[i + 2] : "";
        if (NUMBER_WORDS.has(tok) && POSSESSIVE_FIRST.has(owner) && OWN_LINES.has(left)) {
          return "personal";
        }
        if ((PUBLIC.has(left) || LABELS.has(left)) && !PHONE_VERBS.has(tok)) return "public";
        if (NUMBER_WORDS.has(tok)) continue;
        return cueOrPublic(tokens, i + 1);
      }
      if (tok === "code" && left === "area") return "cue";
      if (LABELS.has(tok) && adjacent) return "label";
      if (PUBLIC.has(tok)) {
        return POSSESSIVE_FIRST.has(left) && OWNABLE.has(tok) ? "personal" : "public";
      }
      if (!FILLER.has(tok)) adjacent = false;
    }
    return null;
  }

  // ------------------------------------------------------------------ phones

  var DASHES = "\u2010\u2011\u2012\u2013\u2014\u2015";
  var SP = "[ \\t\u00a0]";
  var GROUP = "(?:\\(" + SP + "?\\d{1,5}" + SP + "?\\)|\\d+)";
  var SEP = "(?:" + SP + "?[-/" + DASHES + "]" + SP + "?|" + SP + "?\\.(?!" + SP + ")|" + SP +
    "{1,2}|(?<=\\))|(?=\\())";
  var PHONE_CAND_RE = new Rx(
    "PHONE_CAND_RE",
    "(?<![\\w@/=$€£¥₹#+" + DASHES + "-])(?<!\\d[.,:])(?:\\+" + SP + "?)?" + GROUP +
      "(?:" + SEP + GROUP + ")*"
  );
  var DIGIT_GROUP_RE = new Rx("DIGIT_GROUP_RE", "\\d+");
  var GROUP_SPAN_RE = new Rx("GROUP_SPAN_RE", "\\(?\\+?\\d+\\)?");
  var DATE_IN_RUN_RE = new Rx(
    "DATE_IN_RUN_RE",
    "(?:^|\\s)(?:\\d{4}([-./])\\d{1,2}\\1\\d{1,2}|\\d{1,2}([-./])\\d{1,2}\\2(?:\\d{4}|\\d{2}))(?:\\s|$)"
  );
  var AREA_CODE_PARENS_RE = new Rx("AREA_CODE_PARENS_RE", "(?:1\\D*)?\\(\\s?\\d{3}\\s?\\)");
  var NOT_SEPARATORS = new Set("0123456789()+ \t\u00a0".split(""));
  var UK_SERVICE = ("0800 0808 0500 0300 0303 0330 0333 0343 0344 0345 0370 0371 0372 0373 " +
    "0843 0844 0845 0870 0871 0872 0873").split(" ");

  function digitGroups(s) {
    return DIGIT_GROUP_RE.finditer(s).map(function (m) { return m.text; });
  }
  function startsWithAny(s, prefixes) {
    return prefixes.some(function (p) { return s.slice(0, p.length) === p; });
  }

  function isTollfree(digits, plus) {
    var d = digits;
    if (d.slice(0, 2) === "00") { d = d.slice(2); plus = true; }
    if (plus) {
      if (d[0] === "1" && d.length === 11) return NANP_TOLLFREE.has(d.slice(1, 4));
      if (d.slice(0, 2) === "44") return startsWithAny("0" + d.slice(2), UK_SERVICE);
      if (d.slice(0, 2) === "61") return d.slice(2, 6) === "1800" || d.slice(2, 6) === "1300";
      return false;
    }
    if (d.length === 11 && d[0] === "1") d = d.slice(1);
    if (d.length === 10 && NANP_TOLLFREE.has(d.slice(0, 3))) return true;
    if (startsWithAny(d, UK_SERVICE)) return true;
    return d.length === 10 && (d.slice(0, 4) === "1800" || d.slice(0, 4) === "1300");
  }

  function sizesIn(sizes, list) {
    var key = sizes.join(",");
    return list.some(function (l) { return l.join(",") === key; });
  }
  var YMD_SIZES = [[4, 2, 2], [4, 1, 2], [4, 2, 1], [4, 1, 1]];
  var DMY_SIZES = [];
  [1, 2].forEach(function (a) {
    [1, 2].forEach(function (b) {
      [2, 4].forEach(function (c) { DMY_SIZES.push([a, b, c]); });
    });
  });

  function phoneShape(raw) {
    var stripped = raw.trim();
    var groups = digitGroups(stripped);
    var digits = groups.join("");
    var n = digits.length;
    if (n < 7 || n > 15) return null;
    var sizes = groups.map(function (g) { return g.length; });
    var seps = new Set(stripped.split("").filter(function (c) { return !NOT_SEPARATORS.has(c); }));
    var parens = stripped.indexOf("(") >= 0;
    var maxSize = Math.max.apply(null, sizes), minSize = Math.min.apply(null, sizes);
    if (stripped[0] === "+" || (digits.slice(0, 2) === "00" && n >= 10 && !parens)) {
      return n >= 8 ? "strong" : null;
    }
    var oneSep = groups.length === 3 && !parens && seps.size === 1 &&
      (seps.has("-") || seps.has(".") || seps.has("/"));
    if ((oneSep && (sizesIn(sizes, YMD_SIZES) || sizesIn(sizes, DMY_SIZES))) ||
        DATE_IN_RUN_RE.search(stripped, 0)) {
      return null;
    }
    if (seps.has("/") && !(groups.length === 2 && digits[0] === "0" && sizes[1] >= 5)) return null;
    if (sizesIn(sizes, [[4, 4]]) && groups.every(function (g) {
      return g.slice(0, 2) === "19" || g.slice(0, 2) === "20";
    })) return null;
    if (sizesIn(sizes, [[3, 2, 4]]) && seps.size === 1 && seps.has("-")) return null;
    if (groups.length === 4 && seps.size === 1 && seps.has(".") && maxSize <= 3) return null;
    if (parens && (n === 10 || n === 11) && AREA_CODE_PARENS_RE.match(stripped, 0)) {
      return "strong";
    }
    if (sizesIn(sizes, [[3, 3, 4], [1, 3, 3, 4], [3, 7], [1, 3, 7]])) return "strong";
    if (groups.length === 1) {
      if (digits.slice(-3) === "000" && n <= 9) return null;
      if (n === 10 && "23456789".indexOf(digits[0]) >= 0 && "23456789".indexOf(digits[3]) >= 0) {
        return "strong";
      }
      if (n === 11 && digits[0] === "1" && "23456789".indexOf(digits[1]) >= 0) return "strong";
    }
    if (digits[0] === "0" && n >= 10 && n <= 12 && groups.length <= 5 && minSize >= 2) {
      return "strong";
    }
    if (sizes.length >= 7 && maxSize === 1) return n >= 10 ? "strong" : "weak";
    if (groups.length >= 5 && maxSize <= 2) return "weak";
    if (n <= 12 && groups.length <= 4) return "weak";
    return null;
  }

  function phoneVerdict(sc, start, end, shape, tollfree) {
    var ctx = ownerBefore(sc.tokensBefore(start), PHONE_CUES);
    if (ctx === null) {
      var after = sc.tokensAfter(end);
      for (var i = 0; i < after.length; i++) {
        var tok = after[i];
        var mine = OWNABLE.has(tok) && i > 0 && POSSESSIVE_FIRST.has(after[i - 1]);
        if ((LABELS.has(tok) || PUBLIC.has(tok)) && !mine) { ctx = "label"; break; }
        if (PHONE_CUES.has(tok) || NUMBER_WORDS.has(tok)) { ctx = "cue"; break; }
      }
    }
    if (ctx === "label" || ctx === "public") return false;
    if (ctx === "personal") return true;
    if (tollfree) return false;
    if (ctx === "cue" || shape === "strong") return true;
    return sc.has(PHONE_MESSAGE_WORDS);
  }

  function judgePhone(sc, raw, start, shape) {
    var digits = digitGroups(raw).join("");
    return phoneVerdict(sc, start, start + raw.length, shape, isTollfree(digits, raw[0] === "+"));
  }

  function countDigits(s) {
    var n = 0;
    for (var i = 0; i < s.length; i++) if (isDigit(s[i])) n++;
    return n;
  }

  function findPhones(sc) {
    var text = sc.text, out = [];
    PHONE_CAND_RE.finditer(text).forEach(function (m) {
      var raw = m.text;
      if (raw.length < 7 || countDigits(raw) < 7) return;
      var start = m.start, end = m.end;
      var nxt = text.slice(end, end + 1);
      var extension = (nxt === "x" || nxt === "X") && isDigit(text[end + 1]);
      if (nxt && (ALNUM.test(nxt) || "%°_@".indexOf(nxt) >= 0) && !extension) return;
      if (nxt === "," && isDigit(text[end + 1])) return;
      var timeAfter = nxt === ":" && isDigit(text[end + 1]);
      var unitAfter = timeAfter || UNIT_AFTER_RE.match(text, end) !== null;
      var moneyBefore = CURRENCY_BEFORE_RE.search(text, Math.max(0, start - 6), start) !== null;
      var shape = unitAfter || moneyBefore ? null : phoneShape(raw);
      if (shape === "strong") {
        if (judgePhone(sc, raw, start, shape)) out.push(finding("phone", start, end, text));
        return;
      }
      var found = phonesWithin(sc, raw, start, !moneyBefore, !unitAfter);
      out.push.apply(out, found);
      if (!found.length && shape === "weak" && judgePhone(sc, raw, start, shape)) {
        out.push(finding("phone", start, end, text));
      }
    });
    return out;
  }

  function phonesWithin(sc, raw, offset, firstOk, lastOk) {
    var spans = GROUP_SPAN_RE.finditer(raw).map(function (g) { return [g.start, g.end]; });
    var n = spans.length, out = [];
    if (n < 2 || n > 12) return out;
    var cuts = [];
    for (var k = 1; k < n; k++) {
      if (SPACE.test(raw.slice(spans[k - 1][1], spans[k][0]))) cuts.push(k);
    }
    var starts = (firstOk ? [0] : []).concat(cuts);
    var endSet = new Set(cuts);
    if (lastOk) endSet.add(n);
    var ends = Array.from(endSet).sort(function (a, b) { return b - a; });
    var done = 0;
    starts.forEach(function (i) {
      if (i < done) return;
      for (var e = 0; e < ends.length; e++) {
        var j = ends[e];
        if (j <= i || (i === 0 && j === n)) continue;
        var sub = raw.slice(spans[i][0], spans[j - 1][1]);
        var s = offset + spans[i][0];
        if (phoneShape(sub) === "strong" && judgePhone(sc, sub, s, "strong")) {
          out.push(finding("phone", s, s + sub.length, sc.text));
          done = j;
          break;
        }
      }
    });
    return out;
  }

  var DIGIT_WORDS = {
    zero: "0", oh: "0", o: "0", nought: "0", one: "1", two: "2", three: "3", four: "4",
    five: "5", six: "6", seven: "7", eight: "8", nine: "9",
  };
  var REPEATS = { double: 2, triple: 3 };
  var NUMWORD =
    "(?:zero|oh|o|nought|one|two|three|four|five|six|seven|eight|nine|double|triple|\\d{1,4})";
  var SPELLED_RE = new Rx(
    "SPELLED_RE",
    "(?<![\\w'’-])(?:\\+\\s?)?" + NUMWORD + "(?:[\\s,.\\-" + DASHES + "]{1,3}" + NUMWORD +
      "\\b){4,}",
    "i"
  );
  var SPELLED_TOKEN_RE = new Rx("SPELLED_TOKEN_RE", "[A-Za-z]+|\\d+");

  function findSpelledPhones(sc) {
    var triggers = sc.spans(new Set(Object.keys(DIGIT_WORDS)));
    var out = [];
    if (triggers.length < 3) return out;
    var text = sc.text;
    search(SPELLED_RE, text, windows(triggers, 12, 40, text.length)).forEach(function (m) {
      var digits = "", words = 0, repeat = 1;
      SPELLED_TOKEN_RE.finditer(m.text).forEach(function (t) {
        var tok = t.text, low = tok.toLowerCase();
        if (Object.prototype.hasOwnProperty.call(REPEATS, low)) { repeat = REPEATS[low]; return; }
        var unit = isDigit(tok[0]) ? tok : DIGIT_WORDS[low];
        if (!isDigit(tok[0])) words++;
        for (var r = 0; r < repeat; r++) digits += unit;
        repeat = 1;
      });
      if (words < 3 || digits.length < 7 || digits.length > 15) return;
      var ctx = ownerBefore(sc.tokensBefore(m.start), PHONE_CUES);
      if (ctx === "label" || ctx === "public") return;
      out.push(finding("phone", m.start, m.end, text));
    });
    return out;
  }

  // ------------------------------------------------------------------ emails

  var EMAIL_RE = new Rx(
    "EMAIL_RE",
    "(?<![\\w.+%-])[A-Za-z0-9](?:[A-Za-z0-9._%+-]{0,62}[A-Za-z0-9_-])?" +
      "@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\\.)+[A-Za-z]{2,24}\\b"
  );
  var OB_AT_RE = new Rx(
    "OB_AT_RE",
    "[ \\t]*[\\[\\(\\{<][ \\t]*(?:at|@)[ \\t]*[\\]\\)\\}>][ \\t]*|[ \\t]+(?:at|@)[ \\t]+|[ \\t]*@[ \\t]*",
    "i"
  );
  var OB_DOT =
    "(?:[ \\t]*[\\[\\(\\{<][ \\t]*(?:dot|\\.)[ \\t]*[\\]\\)\\}>][ \\t]*|[ \\t]+dot[ \\t]+|[ \\t]?\\.[ \\t]?)";
  var OB_WORD = "[a-z0-9](?:[a-z0-9_+-]{0,40}[a-z0-9])?";
  var OB_DOT_RE = new Rx("OB_DOT_RE", OB_DOT, "i");
  var ALPHA_TLD_RE = new Rx("ALPHA_TLD_RE", "[a-z]{2,3}", "i");
  var SPELLED_OUT_RE = new Rx("SPELLED_OUT_RE", "dot|[\\[\\(\\{<]", "i");
  var OB_DOMAIN_RE = new Rx("OB_DOMAIN_RE", OB_WORD + "(?:" + OB_DOT + OB_WORD + "){0,3}", "i");
  var OB_LOCAL_END_RE = new Rx(
    "OB_LOCAL_END_RE", "(?<![\\w.@'’])" + OB_WORD + "(?:" + OB_DOT + OB_WORD + "){0,3}$", "i");
  // "k e v i n @ g m a i l . c o m": one character at a time.
  var SPACED_EMAIL_RE = new Rx(
    "SPACED_EMAIL_RE",
    "(?<![\\w@])(?:[A-Za-z0-9._-][ \\t]){2,64}@(?:[ \\t][A-Za-z0-9-]){2,64}" +
      "(?:[ \\t]\\.(?:[ \\t][A-Za-z]){2,6})+(?![\\w@])"
  );
  // "my gmail is jane.doe88": a free-mail user name with the provider said instead of written.
  var WEBMAIL_NAME_RE = new Rx(
    "WEBMAIL_NAME_RE",
    "\\b(?:my|our)\\s+(?:gmail|googlemail|hotmail|yahoo|ymail|outlook|icloud|aol|protonmail|gmx)" +
      "(?:\\s+(?:address|account|id|username|user\\s+name))?\\s*(?:is|:|=|-)\\s*" +
      "(?<local>[A-Za-z0-9][A-Za-z0-9._-]{0,62}[A-Za-z0-9])(?![\\w@-]|\\.\\w)",
    "i"
  );
  var EMAIL_WORD_RE = new Rx(
    "EMAIL_WORD_RE",
    "\\b(?:e-?mail|emails|mail|inbox|address|write\\s+(?:to\\s+)?me|contact|reach)\\b",
    "i"
  );
  var PERSONAL_EMAIL_BEFORE_RE = new Rx(
    "PERSONAL_EMAIL_BEFORE_RE",
    "(?:\\b(?:my|our)\\s+(?:\\w+\\s+){0,2}(?:e-?mail|address|inbox|contact)\\b[^.!?]{0,20}" +
      "|\\b(?:me|us)\\s*(?:at|on|via|through|:|-)?\\s*" +
      "|\\b(?:e-?mail|mail|write\\s+to|contact|reach)\\s+(?:me|us|my|our)\\b[^.!?]{0,25})$",
    "i"
  );
  var PERSONAL_EMAIL_AFTER_RE = new Rx(
    "PERSONAL_EMAIL_AFTER_RE",
    "^\\W*(?:my|our)\\b|\\b(?:(?:is|that'?s|that’s|it'?s|which\\s+is)\\s+(?:my|our)" +
      "|(?:my|our)\\s+(?:\\w+\\s+){0,2}(?:e-?mail|address|inbox))\\b",
    "i"
  );

  function emailIsPublic(sc, start, end, local) {
    var key = local.toLowerCase().replace(/[._-]/g, "");
    if (PLACEHOLDER_LOCALS.has(key)) return true;
    if (!ROLE_LOCALS.has(key)) return false;
    if (PERSONAL_EMAIL_BEFORE_RE.search(sc.clauseBefore(start), 0)) return false;
    return !PERSONAL_EMAIL_AFTER_RE.search(sc.clauseAfter(end), 0);
  }

  function findEmails(sc) {
    var text = sc.text, out = [];
    var ats = sc.occurrences("@");
    var atSpans = ats.map(function (i) { return [i, i + 1]; });
    search(EMAIL_RE, text, windows(atSpans, 70, 260, text.length)).forEach(function (m) {
      var tld = m.text.slice(m.text.lastIndexOf(".") + 1).toLowerCase();
      if (LOCAL_TLDS.has(tld)) return;
      if (!emailIsPublic(sc, m.start, m.end, m.text.split("@")[0])) {
        out.push(finding("email", m.start, m.end, text));
      }
    });
    var wide = ats.map(function (i) { return [i, i + 1]; });
    search(SPACED_EMAIL_RE, text, windows(wide, 140, 160, text.length)).forEach(function (m) {
      out.push(finding("email", m.start, m.end, text));
    });
    search(WEBMAIL_NAME_RE, text, windows(sc.spans(WEBMAIL), 12, 100, text.length)).forEach(
      function (m) {
        var local = m.groups.local;
        // A user name has a dot, an underscore or a digit, and a letter ("my outlook is
        // 2.5% better" is not one).
        if (/[._\d]/.test(local) && /[A-Za-z]/.test(local) && !fullmatch(VERSION_RE, local)) {
          out.push(finding("email", m.end - local.length, m.end, text));
        }
      }
    );
    var triggerSet = new Set(ats);
    (sc.words.get("at") || []).forEach(function (s) { triggerSet.add(s[0]); });
    Array.from(triggerSet).sort(function (a, b) { return a - b; }).forEach(function (pos) {
      var f = obfuscatedEmailAt(sc, pos);
      if (f) out.push(f);
    });
    return out;
  }

  function obfuscatedEmailAt(sc, pos) {
    var text = sc.text, s = pos;
    var glued = function (c) { return c !== undefined && c !== " " && c !== "\t"; };
    if (text[pos] === "@" && glued(text[pos - 1]) && glued(text[pos + 1])) return null;
    while (s > 0 && " \t".indexOf(text[s - 1]) >= 0) s--;
    if (s > 0 && "[({<".indexOf(text[s - 1]) >= 0) {
      s--;
      while (s > 0 && " \t".indexOf(text[s - 1]) >= 0) s--;
    }
    var at = OB_AT_RE.match(text, s);
    if (at && !(at.start <= pos && pos < at.end)) at = null;
    if (!at || at.text === "@") return null;
    var dm = OB_DOMAIN_RE.match(text, at.end);
    if (!dm) return null;
    var labels = [], last = dm.start, dot = "";
    OB_DOT_RE.finditer(text, dm.start, dm.end).forEach(function (sep) {
      labels.push([text.slice(last, sep.start), sep.start, dot]);
      last = sep.end;
      dot = sep.text;
    });
    labels.push([text.slice(last, dm.end), dm.end, dot]);
    var isTld = function (label) {
      var spelledDot = label[2].trim() !== ".";
      return TLDS.has(label[0].toLowerCase()) || (spelledDot && fullmatch(ALPHA_TLD_RE, label[0]));
    };
    while (labels.length >= 2 && !isTld(labels[labels.length - 1])) labels.pop();
    var names = labels.map(function (l) { return l[0].toLowerCase(); });
    var pool = names.length > 1 ? names.slice(0, -1) : names;
    var isFree = pool.some(function (x) { return FREEMAIL.has(x); });
    var hasTld = names.length >= 2 && isTld(labels[labels.length - 1]);
    if (!(hasTld || (names.length === 1 && WEBMAIL.has(names[0])))) return null;
    var end = labels[labels.length - 1][1];
    var lm = OB_LOCAL_END_RE.search(text, Math.max(0, at.start - 120), at.start);
    if (!lm || lm.text.length < 2) return null;
    var local = lm.text;
    var localParts = local.split(OB_DOT_RE.g);
    OB_DOT_RE.g.lastIndex = 0;
    var plainAt = at.text.indexOf("@") < 0 && !/[\[\(\{<]/.test(at.text);
    if (plainAt) {
      if (localParts.length === 1 && EMAIL_LOCAL_STOP.has(local.toLowerCase())) return null;
      var spelled = SPELLED_OUT_RE.search(text, lm.start, end) !== null;
      var mine = sc.tokensBefore(lm.start, 6).some(function (t) { return PERSONAL.has(t); });
      if (!(spelled || localParts.length > 1 || /[_\d]/.test(local) || (isFree && hasTld) ||
            EMAIL_WORD_RE.search(text, 0) || mine)) {
        return null;
      }
    }
    if (emailIsPublic(sc, lm.start, end, localParts.join("."))) return null;
    return finding("email", lm.start, end, text);
  }

  // ------------------------------------------------------------------ handles

  var PLAT_LOOSE =
    "whats\\s?app|telegram|viber|wechat|skype|discord|snapchat|instagram|insta|ig|facebook|" +
    "fb|messenger|twitter|tik\\s?tok|linkedin|kik|imessage|facetime|kakao(?:talk)?|threema|" +
    "reddit|mastodon|bluesky|bsky|twitch|line\\s+id";
  var PLAT_STRICT = "signal|snap|x|threads|line";
  var HANDLE_LABELED_RE = new Rx(
    "HANDLE_LABELED_RE",
    "(?<![\\w@./-])(?:(?<loose>" + PLAT_LOOSE + ")|(?<strict>" + PLAT_STRICT + "))" +
      "(?<qual>[ \\t]+(?:id|user[ \\t]?name|user|handle|name|account|acct|profile|tag|contact|" +
      "details|addy|info|number|no\\.?))?" +
      "(?<sep>[ \\t]*[:=][ \\t]*|[ \\t]+is[ \\t]*:?[ \\t]*|[ \\t]*[-–—][ \\t]*|[ \\t]+)" +
      "(?<id>live:[\\w.\\-:]*[\\w]|@?[A-Za-z0-9_](?:[\\w.\\-]{0,30}[A-Za-z0-9_])?(?:#\\d{4})?)",
    "i"
  );
  var STANDALONE_AFTER_RE = new Rx(
    "STANDALONE_AFTER_RE",
    "\\s*(?:$|[,;!?)\\]\\n]|\\.(?:\\s|$)|:\\)|\\s(?:or|and|if|pls|please|thanks|thx|ty|anytime|" +
      "too|also|instead|btw|cheers|x+)\\b|\\s[(\\-–—])",
    "i"
  );
  var AT_HANDLE_RE = new Rx(
    "AT_HANDLE_RE", "(?<![\\w@.+/-])@(?<h>[A-Za-z_][A-Za-z0-9_]*(?:\\.[A-Za-z0-9_]+)*)");
  var SOCIAL_CONTEXT_RE = new Rx(
    "SOCIAL_CONTEXT_RE",
    "\\b(?:" + PLAT_LOOSE + "|" + PLAT_STRICT + "|follow|dm|pm|message|msg|add|find|tag|ping|hmu|" +
      "handle|username|user\\s?name|profile|account|look\\s+me\\s+up|search\\s+for|tweet)\\b",
    "i"
  );
  var APPS_AS_VERBS = "whats\\s?app|telegram|skype|facetime|snapchat|snap|viber|imessage|wechat|kik";
  var CHAT_APPS =
    "whats\\s?app|telegram|signal|viber|wechat|skype|discord|snapchat|snap|messenger|" +
    "facetime|imessage|kik|line|instagram|insta|ig|facebook|fb|twitter|x|tik\\s?tok|" +
    "linkedin|threema|kakao(?:talk)?";
  var INVITE_RE = new Rx(
    "INVITE_RE",
    "\\b(?:(?:" + APPS_AS_VERBS + ")\\s+(?:me|us)\\b" +
      "|(?:dm|pm|message|msg|text|ping|add|find|follow|contact|reach|hit|catch|call|chat\\s+with|" +
      "talk\\s+to|connect\\s+with|friend|video\\s+call|look)\\s+(?:me|us)(?:\\s+(?:up|back))?" +
      "(?:\\s+(?:directly|privately|instead|there|anytime))?" +
      "\\s+(?:on|via|through|over|at|in|using)\\s+(?:" + CHAT_APPS + ")\\b" +
      "|(?:let'?s|let\\s+us|(?:can|could|shall|should|may|might)\\s+we|" +
      "we\\s+(?:can|could|should|might|may)(?:\\s+just)?|why\\s+(?:don'?t\\s+we|not)|how\\s+about|" +
      "i'?d\\s+(?:rather|prefer\\s+to|like\\s+to)|i\\s+prefer\\s+to|better\\s+to|easier\\s+to)" +
      "\\s+(?:\\w+\\s+){0,3}?(?:on|to|over|via|through|using|onto|in)\\s+" +
      "(?:" + APPS_AS_VERBS + "|signal|discord|messenger|instagram|insta|facebook)\\b" +
      "|are\\s+you\\s+on\\s+(?:" + APPS_AS_VERBS + "|signal|discord|instagram|insta|ig|facebook|fb|" +
      "twitter|linkedin|tik\\s?tok|line)\\s*(?:\\?|$))",
    "i"
  );
  var PROFILE_HOSTS = [
    "instagram.com", "instagr.am", "facebook.com", "fb.com", "fb.me", "twitter.com", "x.com",
    "tiktok.com", "linkedin.com", "t.me", "wa.me", "whatsapp.com", "m.me", "snapchat.com",
    "discord.gg", "discord.com", "discordapp.com", "threads.net", "bsky.app", "reddit.com",
  ];
  var PROFILE_URL_RE = new Rx(
    "PROFILE_URL_RE",
    "(?<![\\w.@/-])(?:https?://)?(?:www\\.|m\\.|mobile\\.)?(?:" +
      "(?:instagram\\.com|instagr\\.am)/(?!(?:p|reel|reels|explore|accounts|about|developer|legal|" +
      "stories|tv|direct|help)(?:/|\\b))[A-Za-z0-9_.]{2,30}" +
      "|(?:facebook\\.com|fb\\.com|fb\\.me)/(?!(?:help|groups|pages|events|marketplace|watch|login|" +
      "settings|policies|privacy|business|gaming|legal|about|photo|photos|share|sharer|" +
      "hashtag|story\\.php|policy)(?:/|\\b))(?:profile\\.php\\?id=\\d+|[A-Za-z0-9.]{3,50})" +
      "|(?:twitter\\.com|x\\.com)/(?!(?:home|search|i|settings|explore|tos|privacy|intent|share|" +
      "hashtag|login|signup|notifications|messages|compose)(?:/|\\b))[A-Za-z0-9_]{2,15}" +
      "|tiktok\\.com/@[A-Za-z0-9_.]{2,24}" +
      "|linkedin\\.com/in/[\\w%-]{3,100}" +
      "|t\\.me/(?:joinchat/|\\+)?[A-Za-z0-9_]{4,32}" +
      "|wa\\.me/\\+?\\d{6,15}|api\\.whatsapp\\.com/send\\S*|chat\\.whatsapp\\.com/\\w+" +
      "|m\\.me/[A-Za-z0-9.]{3,50}" +
      "|snapchat\\.com/add/[\\w.-]{2,15}" +
      "|discord\\.gg/\\w{2,}|discord(?:app)?\\.com/(?:invite/\\w+|users/\\d+)" +
      "|threads\\.net/@[\\w.]+|bsky\\.app/profile/[\\w.-]+" +
      "|reddit\\.com/u(?:ser)?/[\\w-]{3,20}" +
      ")",
    "i"
  );
  var NEGATED_RE = new Rx(
    "NEGATED_RE", "\\b(?:don'?t|don’t|do\\s+not|never|stop|can'?t|cannot|won'?t|not)\\W*$", "i");
  var FOLLOWED_RE = new Rx(
    "FOLLOWED_RE", "(?:\\bi\\s+follow|\\bfollows|\\bfollowed|\\bfollowing)\\s+$", "i");
  var NAME_ON_PLATFORM_RE = new Rx(
    "NAME_ON_PLATFORM_RE",
    "(?<![\\w@.#/-])(?<id>@?[A-Za-z][\\w.]{1,30}[A-Za-z0-9_])\\s+(?:on|at|in|via|over)\\s+" +
      "(?:" + PLAT_LOOSE + "|signal|snap|x|threads)\\b",
    "i"
  );
  var INTRODUCED_RE = new Rx(
    "INTRODUCED_RE",
    "\\b(?:i'?m|i’m|i\\s+am|my\\s+name\\s+is|search(?:\\s+for)?|look\\s+(?:me\\s+)?up|find|add)\\s*$",
    "i"
  );
  var ON_APP_RE = new Rx(
    "ON_APP_RE",
    "\\b(?:i'?m|i’m|i\\s+am|we'?re|we’re|we\\s+are)\\s+(?:also\\s+|now\\s+)?on\\s+" +
      "(?:" + APPS_AS_VERBS + "|signal|discord|instagram|insta|facebook|messenger|twitter|line)\\b" +
      "(?=\\s*(?:$|[,;!?)\\]\\n]|\\.(?:\\s|$)|\\s(?:if|too|as|and|or|under|with|so|btw|pls|please|" +
      "anytime|instead|also)\\b|\\s[(\\-–—]))",
    "i"
  );
  var MINE_BEFORE_RE = new Rx("MINE_BEFORE_RE", "\\b(?:my|our)\\W+(?:\\w+\\W+)?$", "i");
  var HANDLE_SHAPE_RE = new Rx("HANDLE_SHAPE_RE", "[_.\\d]");
  var VERSION_RE = new Rx("VERSION_RE", "v?\\d+(?:\\.\\d+)*[a-z]?");
  var DISCORD_TAG_RE = new Rx("DISCORD_TAG_RE", "(?<![\\w#@])[A-Za-z][\\w.]{1,31}#\\d{4}\\b");
  var REDDIT_USER_RE = new Rx("REDDIT_USER_RE", "(?<![\\w/])u/[A-Za-z0-9_-]{3,20}\\b");

  function fullmatch(regex, s) {
    var m = regex.match(s, 0);
    return m !== null && m.end === s.length;
  }

  function findHandles(sc) {
    var text = sc.text, out = [];
    var platforms = sc.spans(PLATFORM_WORDS);
    platforms.forEach(function (p) {
      var m = HANDLE_LABELED_RE.match(text, p[0]);
      if (m) {
        var f = judgeLabeledHandle(sc, m);
        if (f) out.push(f);
      }
    });
    var nearPlatforms = windows(platforms, 80, 12, text.length);
    [INVITE_RE, ON_APP_RE].forEach(function (regex) {
      search(regex, text, nearPlatforms).forEach(function (m) {
        if (!NEGATED_RE.search(sc.clauseBefore(m.start), 0)) {
          out.push(finding("handle", m.start, m.end, text));
        }
      });
    });
    search(NAME_ON_PLATFORM_RE, text, windows(platforms, 50, 12, text.length)).forEach(
      function (m) {
        var before = sc.clauseBefore(m.start);
        if (FOLLOWED_RE.search(before, 0)) return;
        var ident = m.groups.id, bare = ident.replace(/^@+/, "").toLowerCase();
        var shaped = ident[0] === "@" || HANDLE_SHAPE_RE.search(bare, 0) !== null;
        var introduced = INTRODUCED_RE.search(before, 0) !== null;
        if ((shaped || introduced) && !HANDLE_STOP.has(bare) && !fullmatch(VERSION_RE, bare)) {
          out.push(finding("handle", m.start, m.end, text));
        }
      }
    );
    sc.occurrences("@").forEach(function (i) {
      var m = AT_HANDLE_RE.match(text, i);
      if (!m) return;
      var h = m.groups.h.replace(/\.+$/, "");
      if (AT_HANDLE_STOP.has(h.toLowerCase())) return;
      var before = sc.clauseBefore(i);
      if (before.toLowerCase().indexOf("follow") >= 0 && FOLLOWED_RE.search(before, 0)) return;
      var end = i + 1 + h.length;
      var shaped = h.length >= 3 && HANDLE_SHAPE_RE.search(h, 0) !== null;
      if (shaped || SOCIAL_CONTEXT_RE.search(before.slice(-60) + " " + sc.clauseAfter(end).slice(0, 60), 0)) {
        out.push(finding("handle", i, end, text));
      }
    });
    var hosts = [];
    PROFILE_HOSTS.forEach(function (host) {
      sc.occurrences(host).forEach(function (i) { hosts.push([i, sc.tokenEnd(i)]); });
    });
    search(PROFILE_URL_RE, text, windows(hosts, 30, 0, text.length)).forEach(function (m) {
      out.push(urlFinding("handle", text, m.start, m.end));
    });
    if (sc.words.has("discord")) {
      var tags = sc.occurrences("#").map(function (i) { return [i, i + 1]; });
      search(DISCORD_TAG_RE, text, windows(tags, 33, 6, text.length)).forEach(function (m) {
        out.push(finding("handle", m.start, m.end, text));
      });
    }
    if (sc.words.has("reddit")) {
      sc.occurrences("u/").forEach(function (i) {
        var m = REDDIT_USER_RE.match(text, i);
        if (m) out.push(finding("handle", m.start, m.end, text));
      });
    }
    return out;
  }

  function judgeLabeledHandle(sc, m) {
    var text = sc.text;
    var ident = m.groups.id;
    var sepRaw = m.groups.sep.trim().toLowerCase();
    var sep = sepRaw.slice(0, 2) === "is" ? "is" : sepRaw;
    var qual = (m.groups.qual || "").trim().toLowerCase();
    var end = m.end;
    while (ident && ".-".indexOf(ident[ident.length - 1]) >= 0 && ident.indexOf("#") < 0) {
      ident = ident.slice(0, -1);
      end--;
    }
    var bare = ident.replace(/^@/, "").toLowerCase();
    var at = ident[0] === "@";
    if (bare.length < (at ? 1 : 2) || HANDLE_STOP.has(bare) || !/[a-z]/.test(bare)) return null;
    if (fullmatch(VERSION_RE, bare)) return null;
    if (!STANDALONE_AFTER_RE.match(text, end)) return null;
    var shaped = at || /[_.\d#:]/.test(bare);
    var named = /^(?:id|user|handle)/.test(qual);
    var strict = m.groups.strict;
    if (strict !== undefined) {
      var plat = strict.toLowerCase(), colon = [":", "=", "-", "–", "—"].indexOf(sep) >= 0;
      // "my snap is jess_lovesdogs": offered as mine, shaped like a handle.
      var mineShaped =
        sep === "is" && shaped && MINE_BEFORE_RE.search(sc.clauseBefore(m.start), 0);
      if (!(at || named || mineShaped || (plat === "snap" && colon) ||
            (plat === "signal" && colon && shaped))) {
        return null;
      }
    } else if (sep === "is") {
      var mine = MINE_BEFORE_RE.search(sc.clauseBefore(m.start), 0);
      if (!(shaped || named || mine)) return null;
    } else if (sep === "" && !(shaped || named)) {
      return null;
    }
    return finding("handle", m.start, end, text);
  }

  // ------------------------------------------------------------------ meeting links

  var URL_REST = "[^\\s<>\\\"'()\\[\\]{}]*";
  var MEETING_HOSTS = [
    "zoom.", "meet.google.", "g.co/meet", "teams.microsoft.", "teams.live.", "whereby.",
    "webex.", "meet.jit.si", "jitsi.", "gotomeeting.", "gotomeet.me", "meet.goto.",
    "join.skype.", "calendly.", "bluejeans.", "chime.aws", "facetime.apple.", "meet.zoho.",
    "call.whatsapp.", "8x8.vc", "around.co", "doxy.me", "cal.com/", "savvycal.", "tidycal.",
    "zcal.co", "meetings.hubspot.", "youcanbook.me",
  ];
  var MEETING_RE = new Rx(
    "MEETING_RE",
    "(?<![\\w@.-])(?:https?://)?(?:www\\.)?(?:" +
      "(?:[\\w-]+\\.)*zoom\\.(?:us|com)/(?:j|my|s|w|wc/join|wc|meeting/register)/" + URL_REST +
      "|meet\\.google\\.com/(?!(?:about|intl|new|landing|_meet)\\b)[a-z0-9][\\w-]{4,}" + URL_REST +
      "|g\\.co/meet/[\\w-]+" +
      "|teams\\.microsoft\\.com/(?:l/(?:meetup-join|meet|call|chat)|meet)/" + URL_REST +
      "|teams\\.live\\.com/meet/" + URL_REST +
      "|(?:[\\w-]+\\.)?whereby\\.com/(?!(?:information|pricing|blog|user|login|signup|sign-up|" +
      "about|features|solutions|embedded|careers|legal|support|help|terms|privacy)\\b)[\\w-]{2,}" +
      "|(?:[\\w-]+\\.)*webex\\.com/(?:meet/|join/|[\\w.-]+/j\\.php|[\\w.-]+/meet/|wbxmjs/)" + URL_REST +
      "|meet\\.jit\\.si/[\\w-]+" +
      "|(?:global\\.|app\\.)?gotomeeting\\.com/(?:join/|\\?meetingId=)\\d+|gotomeet\\.me/[\\w-]+" +
      "|meet\\.goto\\.com/\\d+|doxy\\.me/[\\w-]+" +
      "|join\\.skype\\.com/[\\w-]+" +
      "|calendly\\.com/(?!(?:pricing|about|blog|login|signup|help|resources|integrations|" +
      "features|solutions|app|careers|legal|privacy|security)\\b)[\\w-]+" + URL_REST +
      "|(?:[\\w-]+\\.)?bluejeans\\.com/\\d+" + URL_REST + "|chime\\.aws/\\d+" +
      "|facetime\\.apple\\.com/join" + URL_REST +
      "|meet\\.zoho\\.\\w+/" + URL_REST + "|call\\.whatsapp\\.com/\\w+/\\w+" +
      "|(?:cal\\.com|savvycal\\.com|tidycal\\.com|zcal\\.co|meetings\\.hubspot\\.com)/" +
      "(?!(?:pricing|about|blog|login|signup|sign-up|help|docs|features|enterprise|careers|" +
      "legal|privacy|terms|security|integrations|solutions)\\b)[\\w-]{2,}" + URL_REST +
      "|[\\w-]+\\.youcanbook\\.me\\b" +
      "|(?:[\\w-]+\\.)?(?:zoom|webex|whereby|around|jitsi|8x8)\\.(?:us|com|vc|co)/" +
      "(?:j|join|meet|room)/[\\w-]+" +
      ")",
    "i"
  );
  var MEETING_ID_RE = new Rx(
    "MEETING_ID_RE",
    "\\b(?:zoom|webex|teams|meeting|conference|gotomeeting|bluejeans)\\s+(?:meeting\\s+|call\\s+)?" +
      "(?:id|number|no\\.?|code|#)\\s*(?:is\\s*)?[:#]?\\s*\\d{3}[\\s-]?\\d{3,4}[\\s-]?\\d{3,5}\\b",
    "i"
  );

  // A Google Meet code on its own ("google meet kpr-vwxt-qmd", "meet code: kpr-vwxt-qmd"),
  // after the word Google or code ("the non-stop-bar" is not one).
  var MEET_CODE_RE = new Rx("MEET_CODE_RE", "(?<![\\w-])[a-z]{3}-[a-z]{4}-[a-z]{3}(?![\\w-])");

  function urlFinding(kind, text, start, end) {
    while (end > start && ".,;:!?)]}'\"".indexOf(text[end - 1]) >= 0) end--;
    return finding(kind, start, end, text);
  }

  function findMeetingLinks(sc) {
    var text = sc.text, out = [], hosts = [];
    MEETING_HOSTS.forEach(function (host) {
      sc.occurrences(host).forEach(function (i) { hosts.push([i, sc.tokenEnd(i)]); });
    });
    search(MEETING_RE, text, windows(hosts, 40, 0, text.length)).forEach(function (m) {
      out.push(urlFinding("meeting_link", text, m.start, m.end));
    });
    var words = sc.spans(MEETING_ID_WORDS);
    search(MEETING_ID_RE, text, windows(words, 0, 60, text.length)).forEach(function (m) {
      out.push(finding("meeting_link", m.start, m.end, text));
    });
    var codeWords = sc.spans(MEET_CODE_WORDS);
    search(MEET_CODE_RE, text, windows(codeWords, 0, 40, text.length)).forEach(function (m) {
      out.push(finding("meeting_link", m.start, m.end, text));
    });
    return out;
  }

  // ------------------------------------------------------------------ addresses

  var SUFFIXES = Array.from(ALL_SUFFIXES).sort(function (a, b) {
    return b.length - a.length || (a < b ? -1 : a > b ? 1 : 0);
  }).join("|");
  var UNIT = "(?:" + ci("apt apartment unit flat suite ste") + "|#)\\.?[ \\t]*#?[ \\t]*[A-Za-z0-9]{1,6}";
  var DIR = "(?:[NSEW]\\.?|North|South|East|West|Northeast|Northwest|Southeast|Southwest|NE|NW|SE|SW)";
  var NAME_TOKEN = "(?:[A-Za-z][A-Za-z'’.\\-]*|\\d{1,3}(?:st|nd|rd|th))";
  var ADDRESS_RE = new Rx(
    "ADDRESS_RE",
    "(?<![\\w$€£#./,:-])(?:(?<unit>" + UNIT + "),?[ \\t]+)?" +
      "(?<num>\\d{1,5}[A-Za-z]?(?:[-/]\\d{1,5}[A-Za-z]?)?),?[ \\t]+" +
      "(?<name>(?:" + DIR + "[ \\t]+)?" + NAME_TOKEN + "(?:[ \\t]+" + NAME_TOKEN + "){0,3}?)" +
      "[ \\t]+(?<suf>" + SUFFIXES + ")\\b\\.?",
    "i"
  );
  var ADDRESS_TAIL_RE = new Rx(
    "ADDRESS_TAIL_RE",
    "(?:,?[ \\t]*" + UNIT + ")?" +
      "(?:,[ \\t]*[A-Z][a-z][a-zA-Z]*(?:[ -][A-Z][a-z][a-zA-Z]*){0,2})?" +
      "(?:,?[ \\t]+(?:[A-Z]{2}[ \\t]+)?\\d{5}(?:-\\d{4})?\\b" +
      "|,?[ \\t]+[A-Z]{1,2}\\d[A-Z\\d]?[ \\t]?\\d[A-Z]{2}\\b)?"
  );
  var CONTINENTAL_ENDINGS = ["straße", "strasse", "str", "weg", "gasse", "platz", "allee", "damm", "ufer"];
  var CONTINENTAL_RE = new Rx(
    "CONTINENTAL_RE",
    "(?<![\\w-])(?:[A-ZÄÖÜ][a-zäöüß]+(?:straße|strasse|str\\.|weg|gasse|platz|allee|damm|ufer)" +
      "|(?:Calle|Via|Viale|Piazza|Carrer|Rua|Avenida|Plaza|Paseo|Corso)\\s+" +
      "(?:(?:de|del|la|las|los|da|do|di|della)\\s+)?[A-ZÁÉÍÓÚ][\\wáéíóúñ]+" +
      "(?:\\s+[A-ZÁÉÍÓÚ][\\wáéíóúñ]+)?,?)" +
      "\\s+\\d{1,4}[a-z]?\\b(?:,\\s*\\d{4,5}\\s+[A-ZÄÖÜ][\\wäöüß]+)?" +
      "|(?<![\\w-])\\d{1,4}(?:\\s?(?:bis|ter))?,?\\s+" +
      "(?:" + ci("rue avenue av. boulevard bd place chemin allée impasse quai cours") + ")\\s+" +
      "(?:(?:de|du|des|la|le|l'|d')\\s*){0,2}[A-ZÉÈ][\\w'’-]+" +
      "(?:\\s+[A-ZÉÈ][\\w'’-]+){0,3}(?:,\\s*\\d{5}\\s+[A-ZÉ][\\w-]+)?"
  );
  var PO_BOX_RE = new Rx("PO_BOX_RE", "\\b(?:P\\.?\\s?O\\.?|post\\s+office)\\s*box\\s+\\d{1,6}\\b", "i");
  var ADDRESS_CUE_RE = new Rx(
    "ADDRESS_CUE_RE",
    "\\b(?:(?<home>(?:i|we)(?:'m|’m|\\s+am|'re|’re|\\s+are)?\\s+(?:live|living|stay|staying|" +
      "reside|residing)\\s+(?:at|on)" +
      "|my\\s+(?:home\\s+|house\\s+|postal\\s+|mailing\\s+|street\\s+|delivery\\s+|shipping\\s+)?" +
      "address(?:\\s+is)?|(?:home|postal|mailing|shipping|delivery)\\s+address(?:\\s+is)?" +
      "|address\\s*:)" +
      "|(?:ship|send|deliver|mail|post|bring|courier)\\s+(?:it|them|this|that|everything|" +
      "(?:the|my|your)\\s+\\w+)?\\s*(?:over\\s+)?to(?:\\s+me\\s+at)?" +
      "|come\\s+(?:over\\s+)?to|visit\\s+(?:me|us)\\s+at" +
      "|pick\\s+(?:me|us|it|them)\\s+up\\s+(?:at|from))\\s*:?\\s*",
    "i"
  );
  var CUED_NUMBER_RE = new Rx(
    "CUED_NUMBER_RE",
    "(?:" + UNIT + ",?[ \\t]+)?\\d{1,5}[A-Za-z]?,?[ \\t]+[A-Za-z][\\w'’.-]*" +
      "(?:[ \\t]+[A-Za-z][\\w'’.-]*){0,3}"
  );
  var UNIT_WORD_RE = new Rx("UNIT_WORD_RE", "(?:apt|apartment|unit|flat|suite|ste|#)", "i");

  var REPORTED_AFTER_RE = new Rx(
    "REPORTED_AFTER_RE",
    "\\s+(?:has\\s+|have\\s+)?(?:announced|said|says|confirmed|stated|issued|denied|declined|" +
      "reported|warned|insisted|responded|replied)\\b"
  );

  function addressOwner(sc, start) {
    var raw = sc.rawTokensBefore(start);
    var toks = raw.map(normToken);
    for (var i = 0; i < toks.length; i++) {
      var tok = toks[i];
      var left = i + 1 < toks.length ? toks[i + 1] : "";
      if (tok === "home" && ["nursing", "care", "funeral", "retirement", "group"].indexOf(left) >= 0) {
        return "public";
      }
      if (PERSONAL_PLACE.has(tok)) return "personal";
      if (WORKPLACE.has(tok)) return "public";
      if (PUBLIC.has(tok)) {
        return POSSESSIVE_FIRST.has(left) && OWNABLE.has(tok) ? "personal" : "public";
      }
      var properName = raw.length > 1 && isUpper(raw[1][0]) && !PRONOUNS.has(toks[1]);
      if (i === 0 && PLACE_LINKS.has(tok) && properName) return "public";
      // "The Met is at 1000 Fifth Avenue", "the White House is at ...": a named place
      // ("the" and one to three capitalised words) is at it.
      if (i === 0 && PLACE_LINKS.has(tok) && raw.length > 3 && COPULAS.has(toks[1])) {
        var k = 2;
        while (
          k < Math.min(raw.length, 5) && toks[k] !== "the" && isUpper(raw[k][0]) &&
          !PRONOUNS.has(toks[k])
        ) k++;
        if (k > 2 && k < toks.length && toks[k] === "the") return "public";
      }
    }
    return null;
  }

  function stripDots(s) {
    return s.replace(/^\.+|\.+$/g, "");
  }

  function validStreet(m, sc) {
    var names = m.groups.name.split(/\s+/).filter(Boolean);
    var suffix = m.groups.suf.toLowerCase();
    if (names.some(function (n) { return ADDR_STOP.has(stripDots(n.toLowerCase())); })) return false;
    var capitalised = names.every(function (n) { return isUpper(n[0]) || isDigit(n[0]); });
    if (!capitalised && (!LC_SUFFIXES.has(suffix) ||
        names.some(function (n) { return ALL_SUFFIXES.has(n.toLowerCase()); }))) {
      return false;
    }
    if ((suffix === "court" || suffix === "ct") &&
        names.some(function (n) { return COURT_WORDS.has(n.toLowerCase()); })) {
      return false;
    }
    var prev = sc.tokensBefore(m.start, 1);
    return !(prev.length && NUMBER_CONTEXT_STOP.has(prev[0]) && !m.groups.unit);
  }

  function findAddresses(sc) {
    var text = sc.text, out = [];
    var suffixes = sc.spans(ALL_SUFFIXES).filter(function (s) {
      return /\d/.test(text.slice(Math.max(0, s[0] - 60), s[0]));
    });
    search(ADDRESS_RE, text, windows(suffixes, 100, 2, text.length)).forEach(function (m) {
      if (!validStreet(m, sc) || addressOwner(sc, m.start) === "public") return;
      // "10 Downing Street announced": the institution, not a home.
      if (REPORTED_AFTER_RE.match(text, m.end)) return;
      var end = m.end;
      if (text[end - 1] === "." && !ABBREVIATED_SUFFIXES.has(m.groups.suf.toLowerCase())) end--;
      var tail = ADDRESS_TAIL_RE.match(text, end);
      end = tail ? tail.end : end;
      out.push(finding("address", m.start, end, text));
    });
    var continental = [];
    sc.words.forEach(function (spans, word) {
      var yes = CONTINENTAL_WORDS.has(word) || CONTINENTAL_ENDINGS.some(function (e) {
        return word.length >= e.length && word.slice(-e.length) === e;
      });
      if (yes) continental.push.apply(continental, spans);
    });
    search(CONTINENTAL_RE, text, windows(continental, 20, 90, text.length)).forEach(function (m) {
      if (addressOwner(sc, m.start) !== "public") out.push(finding("address", m.start, m.end, text));
    });
    search(PO_BOX_RE, text, windows(sc.spans(new Set(["box"])), 20, 12, text.length)).forEach(
      function (m) {
        if (addressOwner(sc, m.start) === "personal") {
          out.push(finding("address", m.start, m.end, text));
        }
      }
    );
    var cues = sc.spans(ADDRESS_CUE_WORDS);
    search(ADDRESS_CUE_RE, text, windows(cues, 20, 40, text.length)).forEach(function (cue) {
      var f = cuedAddress(sc, cue);
      if (f) out.push(f);
    });
    return out;
  }

  function cuedAddress(sc, cue) {
    var text = sc.text;
    var m = CUED_NUMBER_RE.match(text, cue.end);
    if (!m) return null;
    var words = m.text.replace(/,/g, " ").split(/\s+/).filter(Boolean);
    while (words.length > 2 && ADDR_STOP.has(stripDots(words[words.length - 1].toLowerCase()))) {
      words.pop();
    }
    var first = UNIT_WORD_RE.match(words[0], 0) ? "" : words[1];
    if (first && ADDR_STOP.has(stripDots(first.toLowerCase()))) return null;
    var homely = cue.groups.home !== undefined;
    if (first && !isUpper(first[0]) && !homely) return null;
    var lastWord = words[words.length - 1];
    var end = m.start + m.text.lastIndexOf(lastWord) + lastWord.length;
    if (text[end - 1] === ".") end--;
    var tail = ADDRESS_TAIL_RE.match(text, end);
    end = tail ? tail.end : end;
    return finding("address", m.start, end, text);
  }

  // ------------------------------------------------------------------ entry points

  function resolve(findings, text) {
    var byStart = findings.slice().sort(function (a, b) { return a.start - b.start; });
    var chosen = [], cluster = [], clusterEnd = -1;
    byStart.concat([null]).forEach(function (f) {
      if (f !== null && f.start < clusterEnd) {
        cluster.push(f);
        clusterEnd = Math.max(clusterEnd, f.end);
        return;
      }
      chosen.push.apply(chosen, resolveCluster(cluster, text));
      if (f !== null) { cluster = [f]; clusterEnd = f.end; }
    });
    return chosen.sort(function (a, b) { return a.start - b.start; });
  }

  function resolveCluster(cluster, text) {
    if (cluster.length < 2) return cluster;
    var chosen = [];
    cluster.slice().sort(function (a, b) {
      return PRIORITY[a.kind] - PRIORITY[b.kind] || (a.start - a.end) - (b.start - b.end) ||
        a.start - b.start;
    }).forEach(function (f) {
      for (var i = 0; i < chosen.length; i++) {
        var c = chosen[i];
        if (f.start < c.end && c.start < f.end) {
          if (c.kind === f.kind) {
            chosen[i] = finding(c.kind, Math.min(c.start, f.start), Math.max(c.end, f.end), text);
          }
          return;
        }
      }
      chosen.push(f);
    });
    return chosen;
  }

  function findContactDetails(text) {
    if (!text) return [];
    text = String(text);
    // Unicode spaces become plain ones and full-width forms ASCII (one character for one:
    // the offsets stay right).
    var sc = new Scan(text.replace(SPACES, " ").replace(FULLWIDTH, halfwidth));
    var findings = [].concat(
      findEmails(sc), findMeetingLinks(sc), findHandles(sc), findPhones(sc),
      findSpelledPhones(sc), findAddresses(sc)
    );
    return resolve(findings, sc.text).map(function (f) {
      return finding(f.kind, f.start, f.end, text);
    });
  }

  function hasContactDetails(text) {
    return findContactDetails(text).length > 0;
  }

  // ------------------------------------------------------------------ the composer

  var KIND_NAMES = {
    phone: "a phone number",
    email: "an email address",
    handle: "a messaging handle",
    meeting_link: "a meeting link",
    address: "a home address",
  };

  function warningMessage(findings, privateBoxOpen) {
    var kinds = [];
    findings.forEach(function (f) {
      if (kinds.indexOf(f.kind) < 0) kinds.push(f.kind);
    });
    var names = kinds.map(function (k) { return KIND_NAMES[k]; });
    var list = names.length > 1
      ? names.slice(0, -1).join(", ") + " and " + names[names.length - 1]
      : names[0];
    var where = privateBoxOpen
      ? "in the Private Information box"
      : "after accepting a premium service offer, in the Private Information box";
    return "This looks like contact details (" + list + "). Share them " + where + " instead.";
  }

  function attach(doc) {
    var form = doc.querySelector("form#composer");
    var textarea = form && form.querySelector("textarea");
    if (!textarea) return;
    var warning = doc.createElement("p");
    warning.className = "contact-warning";
    warning.setAttribute("role", "status");
    warning.hidden = true;
    textarea.insertAdjacentElement("afterend", warning);
    var page = doc.getElementById("thread-page");
    var timer = null;

    function check() {
      timer = null;
      var findings = findContactDetails(textarea.value);
      if (!findings.length) {
        warning.hidden = true;
        warning.textContent = "";
        return;
      }
      var open = (!!page && page.getAttribute("data-private-box") === "open") || !!document.getElementById("private-box");
      var message = warningMessage(findings, open);
      if (warning.textContent !== message) warning.textContent = message;
      warning.hidden = false;
    }
    function later() {
      if (timer !== null) clearTimeout(timer);
      timer = setTimeout(check, 200);
    }
    textarea.addEventListener("input", later);
    // Other scripts set the value without an input event: the thread script empties the
    // textarea after sending and may restore a draft.
    textarea.addEventListener("focus", later);
    textarea.addEventListener("change", later);
    form.addEventListener("submit", function () { setTimeout(check, 0); });
    form.addEventListener("reset", function () { setTimeout(check, 0); });
    check();
    setTimeout(check, 0);
  }

  var api = {
    findContactDetails: findContactDetails,
    hasContactDetails: hasContactDetails,
    warningMessage: warningMessage,
    KINDS: KINDS,
    _patterns: PATTERNS,
    _words: WORDS,
  };

  if (typeof module !== "undefined" && module.exports) module.exports = api;
  if (typeof window !== "undefined") window.expertlineContactWarning = api;
  if (typeof document !== "undefined") {
    if (document.readyState === "loading") {
      document.addEventListener("DOMContentLoaded", function () { attach(document); });
    } else {
      attach(document);
    }
  }
})();
