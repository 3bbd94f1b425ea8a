/*
 * LSP improvement tool: a partnership's 7S profile against England, computed in this page.
 *
 * Plain JavaScript, no library, no build step. The national reference values are the JSON block the
 * improvement stage writes (pipeline/stages/improvement_tool.py). The computation is the same as
 * `lsp-rap profile` (pipeline/study/profile.py), step for step and in the same order, so the two agree to
 * rounding; the rating rule is declared in pipeline/study/improvement.py and arrives here as text.
 * Nothing loaded into the page is sent or stored: the script makes no request and writes nothing to the
 * browser's storage.
 */
(function () {
  "use strict";

  var REF = JSON.parse(document.getElementById("reference-values").textContent);
  /* The frame's LSPs, or null: the stage lists them only for a small frame (LSP_LIST_MAX in
   * pipeline/study/improvement.py); without them the partnership names its comparison group itself. */
  var LSPS = REF.lsps || null;
  /* Which field of a listed LSP gives its group in each partition the frame defines. */
  var LSP_FIELD = { tier: "tier", authority_type: "authority_type", region: "region", deprivation: "imd_band" };
  var PERCENTILES = [0.1, 0.25, 0.5, 0.75, 0.9];
  var state = { loaded: null, typed: [], rows: null };

  function el(id) { return document.getElementById(id); }
  function esc(text) {
    return String(text).replace(/[&<>"']/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c];
    });
  }

  /* ---- reading a CSV export (RFC 4180: quoted fields, doubled quotes, CRLF or LF) ---- */
  function parseCsv(text) {
    text = text.replace(/^\ufeff/, "");
    var rows = [], row = [], field = "", quoted = false;
    for (var i = 0; i < text.length; i++) {
      var c = text[i];
      if (quoted) {
        if (c === '"' && text[i + 1] === '"') { field += '"'; i++; }
        else if (c === '"') { quoted = false; }
        else { field += c; }
      } else if (c === '"') { quoted = true; }
      else if (c === ",") { row.push(field); field = ""; }
      else if (c === "\n" || c === "\r") {
        if (c === "\r" && text[i + 1] === "\n") { i++; }
        row.push(field); rows.push(row); row = []; field = "";
      } else { field += c; }
    }
    if (field !== "" || row.length) { row.push(field); rows.push(row); }
    return rowsToRecords(rows);
  }

  /* ---- reading an XLSX workbook: its first sheet, with the browser's own unzip (DecompressionStream) ----
   * An .xlsx is a ZIP of XML files. The central directory at the end lists each file's offset, size and
   * compression (0 stored, 8 deflate); the sheet's cells refer to the shared-strings table by index. */
  function unzipEntries(buffer) {
    var view = new DataView(buffer), end = -1;
    for (var i = buffer.byteLength - 22; i >= Math.max(0, buffer.byteLength - 65557); i--) {
      if (view.getUint32(i, true) === 0x06054b50) { end = i; break; }
    }
    if (end < 0) { throw new Error("not a zip archive"); }
    var count = view.getUint16(end + 10, true), offset = view.getUint32(end + 16, true), entries = {};
    for (var k = 0; k < count; k++) {
      if (view.getUint32(offset, true) !== 0x02014b50) { throw new Error("damaged zip directory"); }
      var nameLength = view.getUint16(offset + 28, true);
      var name = new TextDecoder().decode(new Uint8Array(buffer, offset + 46, nameLength));
      entries[name] = { method: view.getUint16(offset + 10, true), size: view.getUint32(offset + 20, true),
        local: view.getUint32(offset + 42, true) };
      offset += 46 + nameLength + view.getUint16(offset + 30, true) + view.getUint16(offset + 32, true);
    }
    return entries;
  }
  function unzipText(buffer, entry) {
    var view = new DataView(buffer);
    var start = entry.local + 30 + view.getUint16(entry.local + 26, true) + view.getUint16(entry.local + 28, true);
    var bytes = new Uint8Array(buffer, start, entry.size);
    if (entry.method === 0) { return Promise.resolve(new TextDecoder().decode(bytes)); }
    if (entry.method !== 8) {
      return Promise.reject(new Error("compression method " + entry.method + " not supported"));
    }
    var stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("deflate-raw"));
    return new Response(stream).text();
  }
  function xmlOf(text) { return new DOMParser().parseFromString(text, "application/xml"); }
  function columnIndex(ref) {
    var letters = ref.replace(/[0-9]/g, ""), index = 0;
    for (var i = 0; i < letters.length; i++) { index = index * 26 + letters.charCodeAt(i) - 64; }
    return index - 1;
  }
  function readXlsx(buffer) {
    var entries = unzipEntries(buffer);
    var sheetName = "xl/worksheets/sheet1.xml";
    var texts = [entries["xl/workbook.xml"], entries["xl/_rels/workbook.xml.rels"], entries["xl/sharedStrings.xml"]]
      .map(function (entry) { return entry ? unzipText(buffer, entry) : Promise.resolve(null); });
    return Promise.all(texts).then(function (parts) {
      if (parts[0] && parts[1]) { /* the workbook's first sheet, wherever its relationship points */
        var sheet = xmlOf(parts[0]).getElementsByTagName("sheet")[0];
        var id = sheet && (sheet.getAttribute("r:id") || sheet.getAttributeNS(
          "http://schemas.openxmlformats.org/officeDocument/2006/relationships", "id"));
        Array.prototype.forEach.call(xmlOf(parts[1]).getElementsByTagName("Relationship"), function (r) {
          if (r.getAttribute("Id") === id) { sheetName = "xl/" + r.getAttribute("Target").replace(/^\/?xl\//, ""); }
        });
      }
      var shared = parts[2] ? Array.prototype.map.call(xmlOf(parts[2]).getElementsByTagName("si"), function (si) {
        return Array.prototype.map.call(si.getElementsByTagName("t"), function (t) { return t.textContent; }).join("");
      }) : [];
      if (!entries[sheetName]) { throw new Error("no worksheet found"); }
      return unzipText(buffer, entries[sheetName]).then(function (text) {
        var table = [];
        Array.prototype.forEach.call(xmlOf(text).getElementsByTagName("row"), function (row) {
          var cells = [];
          Array.prototype.forEach.call(row.getElementsByTagName("c"), function (c) {
            var type = c.getAttribute("t"), v = c.getElementsByTagName("v")[0], value = "";
            if (type === "s" && v) { value = shared[Number(v.textContent)]; }
            else if (type === "inlineStr") {
              value = Array.prototype.map.call(c.getElementsByTagName("t"), function (t) { return t.textContent; }).join("");
            }
            else if (v) { value = v.textContent; }
            cells[c.getAttribute("r") ? columnIndex(c.getAttribute("r")) : cells.length] = value;
          });
          table.push(Array.from(cells, function (x) { return x === undefined ? "" : x; }));
        });
        return rowsToRecords(table);
      });
    });
  }

  /* The first row names the columns; rows with nothing in them are dropped. */
  function rowsToRecords(rows) {
    var header = (rows[0] || []).map(function (h) { return String(h).trim(); });
    return rows.slice(1).filter(function (r) { return r.some(function (v) { return String(v).trim() !== ""; }); })
      .map(function (r) {
        var out = {};
        header.forEach(function (h, j) { out[h] = r[j] === undefined ? "" : String(r[j]); });
        return out;
      });
  }

  /* A cell's code: blank is not answered (-9); digits or a known label; null when it is neither. */
  function labelCodes() {
    var codes = {};
    Object.keys(REF.agree_labels).forEach(function (k) { codes[REF.agree_labels[k].toLowerCase()] = Number(k); });
    Object.keys(REF.missing_codes).forEach(function (k) { codes[REF.missing_codes[k].toLowerCase()] = Number(k); });
    return codes;
  }
  function decode(text, labels) {
    if (text === "") { return -9; }
    if (/^-?\d+(\.0+)?$/.test(text)) {
      var code = Math.trunc(Number(text));
      var known = Object.keys(labels).some(function (k) { return labels[k] === code; });
      return known ? code : null;
    }
    return Object.prototype.hasOwnProperty.call(labels, text.toLowerCase()) ? labels[text.toLowerCase()] : null;
  }

  function respondentType(row) {
    var stated = (row.respondent_type || "").trim().toLowerCase();
    if (stated === "coordinator" || stated === "partner") { return stated; }
    var id = (row.respondent_id || "").trim();
    var found = "partner";
    Object.keys(REF.respondent_id_patterns).forEach(function (instrument) {
      if (new RegExp(REF.respondent_id_patterns[instrument]).test(id)) { found = instrument; }
    });
    return found;
  }

  /* Check and decode the answers; throws an Error whose message names the row and column. */
  function decodeAnswers(rows, source) {
    var names = REF.items.map(function (i) { return i.name; });
    var present = rows.length ? names.filter(function (n) { return n in rows[0]; }) : [];
    if (!present.length) {
      throw new Error(source + ": no column is a 7S question of the codebook (e.g. " + names[0] + ")");
    }
    var ids = {};
    rows.forEach(function (r) { var id = (r.lsp_id || "").trim(); if (id) { ids[id] = true; } });
    ids = Object.keys(ids).sort();
    if (ids.length > 1) { throw new Error(source + ": the file holds answers for " + ids.length + " LSPs; load one partnership's answers"); }
    var labels = labelCodes();
    var people = rows.map(function (row, index) {
      var person = { type: respondentType(row) };
      present.forEach(function (name) {
        var text = (row[name] || "").trim();
        var code = decode(text, labels);
        if (code === null) {
          throw new Error(source + ": row " + (index + 2) + ", column " + name + ": '" + text +
            "' is not an answer on the agree scale (1-5, -8, -9 or their labels)");
        }
        person[name] = REF.agree_labels[String(code)] !== undefined ? code : null;
      });
      return person;
    });
    return { people: people, lsp_id: ids.length ? ids[0] : null };
  }

  /* ---- the profile: the same steps as pipeline/study/profile.py ---- */
  function scaleScore(person, items) {
    var total = 0, answered = 0;
    items.forEach(function (item) {
      var code = person[item.name];
      if (code !== null && code !== undefined) { total += item.reverse ? 6 - code : code; answered += 1; }
    });
    return answered >= Math.ceil(items.length / 2) && answered > 0 ? total / answered : null;
  }
  function percentile(values, p) {
    if (!values) { return null; }
    var row = values.percentiles.filter(function (r) { return r.p === p; })[0];
    return row ? row.value : null;
  }
  function placement(low, high, p25, p75) {
    if (high < p25) { return "below"; }
    if (low > p75) { return "above"; }
    return "middle";
  }
  function rating(n, where) {
    if (n < REF.min_rated) { return "not rated"; }
    return where === "below" ? "red" : where === "above" ? "green" : "amber";
  }

  function computeProfile(loaded, peerGroup) {
    var people = loaded.people, rows = [];
    REF.elements.forEach(function (element) {
      var items = REF.items.filter(function (i) { return i.element === element.key && i.in_scale; });
      /* Each person is scored on the scale's items their instrument is asked, as the derive stage does. */
      var scores = people.map(function (p) {
        return scaleScore(p, items.filter(function (i) { return i.instruments.indexOf(p.type) >= 0; }));
      }).filter(function (s) { return s !== null; });
      var values = REF.scale_values[element.key];
      var england = values.groups.all, peer = peerGroup ? values.groups[peerGroup] : null;
      var row = { kind: "element", element: element.key, item: "", label: element.label, respondents: scores.length };
      var p25 = percentile(england, 0.25), p75 = percentile(england, 0.75);
      if (scores.length) {
        var total = 0;
        scores.forEach(function (s) { total += s; });
        var mean = total / scores.length;
        var half = values.within_lsp.t * values.within_lsp.sd / Math.sqrt(scores.length);
        row.value = mean; row.ci_low = mean - half; row.ci_high = mean + half;
        row.placement = placement(row.ci_low, row.ci_high, p25, p75);
        row.rating = rating(scores.length, row.placement);
      } else { row.placement = ""; row.rating = "not rated"; }
      PERCENTILES.forEach(function (p) { row["england_p" + Math.round(p * 100)] = percentile(england, p); });
      if (peerGroup) {
        row.peer_group = peerGroup;
        [0.25, 0.5, 0.75].forEach(function (p) { row["peer_p" + Math.round(p * 100)] = percentile(peer, p); });
      }
      rows.push(row);
    });
    REF.items.forEach(function (item) {
      var answered = people.map(function (p) { return p[item.name]; })
        .filter(function (c) { return c !== null && c !== undefined; });
      if (!answered.length) { return; }
      var agree = answered.filter(function (c) { return REF.agree_codes.indexOf(c) >= 0; }).length;
      var groups = REF.item_values[item.name].groups;
      var row = { kind: "item", element: item.element, item: item.name, label: item.label,
        respondents: answered.length, value: 100 * agree / answered.length,
        england_pct: groups.all ? groups.all.pct : null };
      if (peerGroup) { row.peer_group = peerGroup; row.peer_pct = groups[peerGroup] ? groups[peerGroup].pct : null; }
      rows.push(row);
    });
    return rows;
  }

  var COLUMNS = ["kind", "element", "item", "label", "respondents", "value", "ci_low", "ci_high", "england_p10",
    "england_p25", "england_p50", "england_p75", "england_p90", "england_pct", "placement", "rating",
    "peer_group", "peer_p25", "peer_p50", "peer_p75", "peer_pct"];
  /* Numbers as the shortest text that reads back as the same double (Python's repr does the same). */
  function formatNumber(v) {
    if (v === null || v === undefined || Number.isNaN(v)) { return ""; }
    return String(v);
  }
  function csvField(v) {
    var text = typeof v === "number" ? formatNumber(v) : (v === null || v === undefined ? "" : String(v));
    return /[",\n\r]/.test(text) ? '"' + text.replace(/"/g, '""') + '"' : text;
  }
  function profileCsv(rows) {
    return [COLUMNS.join(",")].concat(rows.map(function (r) {
      return COLUMNS.map(function (c) { return csvField(r[c]); }).join(",");
    })).join("\n") + "\n";
  }

  /* ---- showing it ---- */
  function fixed(v) { return v === null || v === undefined ? "–" : v.toFixed(2); }
  function groupLabel(key) {
    var g = REF.groups.filter(function (x) { return x.key === key; })[0];
    return g ? g.label : "none";
  }
  function chosenLsp() {
    var id = el("lsp-select").value;
    if (!LSPS || !id) { return null; }
    return LSPS.filter(function (l) { return l.id === id; })[0] || null;
  }
  function peerGroupKey() {
    var lsp = chosenLsp(), partition = el("group-select").value;
    if (partition.indexOf(":") >= 0) { return partition; } /* a group chosen by name */
    if (!lsp || !partition) { return null; }
    return partition + ":" + lsp[LSP_FIELD[partition]];
  }

  function chart(rows) {
    var elements = rows.filter(function (r) { return r.kind === "element"; });
    /* On a phone each element's name goes above its bar, so the bars keep the full width. */
    var narrow = el("chart").clientWidth < 560;
    var width = narrow ? 360 : 700, left = narrow ? 12 : 235, right = narrow ? 12 : 20;
    var rowH = narrow ? 50 : 34, top = narrow ? 34 : 30, shift = narrow ? 8 : 0;
    var height = top + rowH * elements.length + 30;
    function x(v) { return left + (v - 1) / 4 * (width - left - right); }
    var parts = ['<svg viewBox="0 0 ' + width + " " + height + '" role="img" aria-labelledby="chart-title chart-desc">',
      '<title id="chart-title">Your score on each element against England</title>',
      '<desc id="chart-desc">For each element: England\'s middle half (25th to 75th percentile) as a blue band, its 10th to ' +
      '90th percentiles as a line, the comparison group\'s middle half as a purple outline, and your score as a black dot ' +
      'with its 95% interval. The table below gives every number.</desc>'];
    [1, 2, 3, 4, 5].forEach(function (v) {
      parts.push('<line x1="' + x(v) + '" x2="' + x(v) + '" y1="' + (top - 8) + '" y2="' + (height - 24) + '" stroke="#dddddd"/>');
      parts.push('<text x="' + x(v) + '" y="' + (height - 8) + '" text-anchor="middle" font-size="12">' + v + "</text>");
    });
    parts.push('<text x="' + x(1) + '" y="14" font-size="12">1 = strongly disagree</text>');
    parts.push('<text x="' + x(5) + '" y="' + (narrow ? 28 : 14) + '" font-size="12" text-anchor="end">5 = strongly agree</text>');
    elements.forEach(function (r, i) {
      var y = top + i * rowH + rowH / 2 + shift;
      parts.push(narrow
        ? '<text x="' + left + '" y="' + (y - 15) + '" font-size="13" font-weight="600">' + esc(r.label) + "</text>"
        : '<text x="' + (left - 8) + '" y="' + (y + 4) + '" text-anchor="end" font-size="13">' + esc(r.label) + "</text>");
      if (r.england_p10 !== null && r.england_p90 !== null) {
        parts.push('<line x1="' + x(r.england_p10) + '" x2="' + x(r.england_p90) + '" y1="' + y + '" y2="' + y + '" stroke="#5694ca" stroke-width="2"/>');
      }
      if (r.england_p25 !== null && r.england_p75 !== null) {
        parts.push('<rect x="' + x(r.england_p25) + '" y="' + (y - 9) + '" width="' + (x(r.england_p75) - x(r.england_p25)) +
          '" height="18" fill="#cfe3f3" stroke="#5694ca"/>');
      }
      if (r.peer_p25 !== undefined && r.peer_p25 !== null && r.peer_p75 !== null) {
        parts.push('<rect x="' + x(r.peer_p25) + '" y="' + (y - 12) + '" width="' + (x(r.peer_p75) - x(r.peer_p25)) +
          '" height="24" fill="none" stroke="#6f2f9f" stroke-width="2" stroke-dasharray="4 2"/>');
      }
      if (r.value !== undefined) {
        var lo = Math.max(1, r.ci_low), hi = Math.min(5, r.ci_high);
        parts.push('<line x1="' + x(lo) + '" x2="' + x(hi) + '" y1="' + y + '" y2="' + y + '" stroke="#0b0c0c" stroke-width="3"/>');
        parts.push('<circle cx="' + x(r.value) + '" cy="' + y + '" r="6" fill="#0b0c0c"/>');
      }
    });
    parts.push("</svg>");
    parts.push('<p class="legend"><span class="key key-band"></span> England\'s middle half (25th to 75th percentile), ' +
      'line 10th to 90th; <span class="key key-peer"></span> the comparison group\'s middle half; ' +
      '<span class="key key-you"></span> your score with its 95% interval.</p>');
    return parts.join("");
  }

  function table(rows, peer) {
    var head = "<caption>Your score on each element (mean of your people's scale scores, 1 to 5) with its 95% interval, " +
      "England's percentiles" + (peer ? " and " + esc(groupLabel(peer)) + "' middle half" : "") + "</caption>" +
      '<thead><tr><th scope="col">Element</th><th scope="col">People</th><th scope="col">Your score (95% interval)</th>' +
      '<th scope="col">England 10th / 25th / 50th / 75th / 90th</th>' +
      (peer ? '<th scope="col">Group 25th / 50th / 75th</th>' : "") +
      '<th scope="col">Place in England</th><th scope="col">Rating</th></tr></thead><tbody>';
    var body = rows.filter(function (r) { return r.kind === "element"; }).map(function (r) {
      var score = r.value === undefined ? "no answers" : fixed(r.value) + " (" + fixed(r.ci_low) + " to " + fixed(r.ci_high) + ")";
      var england = [r.england_p10, r.england_p25, r.england_p50, r.england_p75, r.england_p90].map(fixed).join(" / ");
      var group = peer ? '<td data-label="Group">' + [r.peer_p25, r.peer_p50, r.peer_p75].map(fixed).join(" / ") + "</td>" : "";
      var where = r.placement ? REF.placements_short[r.placement] : "–";
      return '<tr><th scope="row">' + esc(r.label) + '</th><td class="num" data-label="People">' + r.respondents +
        '</td><td data-label="Your score">' + score + '</td><td data-label="England">' + england + "</td>" + group +
        '<td data-label="Placement">' + esc(where) + '</td><td data-label="Rating" class="rating rating-' +
        r.rating.replace(" ", "-") + '">' + esc(r.rating) + "</td></tr>";
    }).join("");
    return head + body + "</tbody>";
  }

  function weaker(rows, peer) {
    var elements = rows.filter(function (r) {
      return r.kind === "element" && r.value !== undefined && (r.rating === "red" || r.value < r.england_p25);
    });
    if (!elements.length) {
      return "<p>No element's score is below England's 25th percentile.</p>";
    }
    return "<p class=\"note\">" + esc(REF.checklist_note) + "</p>" + elements.map(function (r) {
      var items = rows.filter(function (i) { return i.kind === "item" && i.element === r.element; });
      var list = items.map(function (i) {
        var eng = i.england_pct === null || i.england_pct === undefined ? "–" : i.england_pct.toFixed(0) + "%";
        var grp = peer ? "; " + esc(groupLabel(peer)) + " " + (i.peer_pct === null || i.peer_pct === undefined ? "–" : i.peer_pct.toFixed(0) + "%") : "";
        var reverse = REF.items.filter(function (x) { return x.name === i.item; })[0].reverse
          ? " <em>(here agreeing is the unfavourable answer)</em>" : "";
        return "<li>" + esc(i.label) + reverse + ": your people " + i.value.toFixed(0) + "% agree (" + i.respondents +
          " answered); England " + eng + grp + "</li>";
      }).join("");
      var advice = (REF.advice[r.element] || []).map(function (a) {
        return "<li>" + esc(a.text) + ' <span class="note">[<a href="' + esc(a.url) + '">' + esc(a.source) + "</a>]</span></li>";
      }).join("");
      return "<h4>" + esc(r.label) + " (" + esc(r.rating) + ")</h4><p>The questions behind it:</p><ul>" + list +
        "</ul><p>What the report recommends:</p><ul>" + advice + "</ul>";
    }).join("");
  }

  function caseStudies(peer) {
    if (!LSPS) { return caseStudyCounts(peer); }
    var lsp = chosenLsp();
    if (!lsp) { return "<p>Choose your partnership above to see the Audit Commission's case-study LSPs like it.</p>"; }
    var same = LSPS.filter(function (l) { return l.case_study && l.authority_type === lsp.authority_type && l.id !== lsp.id; });
    var basis = "of the same authority type";
    if (!same.length) {
      same = LSPS.filter(function (l) { return l.case_study && l.tier === lsp.tier && l.id !== lsp.id; });
      basis = "in the same tier";
    }
    if (!same.length) {
      var all = LSPS.filter(function (l) { return l.case_study; }).length;
      return "<p>None of the " + all + " case-study LSPs is like yours.</p>";
    }
    return "<p>The Audit Commission's case-study LSPs (2008) " + basis + ":</p><ul>" +
      same.map(function (l) { return "<li>" + esc(l.name) + "</li>"; }).join("") + "</ul>";
  }

  /* Without the list the page cannot name them: it says how many the frame flags, overall and in the group. */
  function caseStudyCounts(peer) {
    var left = REF.lsps_left_out, counts = left.case_study_lsps;
    var text = "This page cannot name the Audit Commission's case-study LSPs like yours: it does not list the " +
      "frame's " + count(left.frame_lsps) + " LSPs (see <q>Choose who to compare with</q>). The frame flags " +
      count(counts.all) + " of them as case studies (2008)";
    if (peer && Object.prototype.hasOwnProperty.call(counts, peer)) {
      text += ", " + count(counts[peer]) + " of them among " + esc(groupLabel(peer));
    }
    return "<p>" + text + ".</p>";
  }
  function count(n) { return Number(n).toLocaleString("en-GB"); }

  function show() {
    var loaded = state.loaded;
    if (!loaded) { return; }
    var peer = peerGroupKey();
    var rows = computeProfile(loaded, peer);
    state.rows = rows;
    el("results").hidden = false; /* first, so the chart can measure the width it has */
    var counts = rows.filter(function (r) { return r.kind === "element"; }).map(function (r) { return r.respondents; });
    var fewest = Math.min.apply(null, counts);
    el("warning").innerHTML = fewest < REF.min_rated
      ? '<p class="warning"><strong>Only ' + fewest + (fewest === 1 ? " person" : " people") +
        " answered some elements.</strong> One or two people's views cannot place a partnership in England: " +
        "their intervals below are very wide and those elements are not rated. Ask more board members to answer.</p>"
      : "";
    el("rule").textContent = REF.rating_rule;
    el("chart").innerHTML = chart(rows);
    el("profile-table").innerHTML = table(rows, peer);
    el("weaker").innerHTML = weaker(rows, peer);
    el("case-studies").innerHTML = caseStudies(peer);
  }

  /* A refused file leaves no earlier profile on screen to be mistaken for its own. */
  function clearProfile() {
    state.loaded = null;
    state.rows = null;
    el("results").hidden = true;
  }

  function loadRows(rows, source) {
    try {
      state.loaded = decodeAnswers(rows, source);
    } catch (error) {
      clearProfile();
      el("load-message").innerHTML = '<span class="error">' + esc(error.message) + "</span>";
      return;
    }
    var known = LSPS && LSPS.filter(function (l) { return l.id === state.loaded.lsp_id; })[0];
    if (known) { el("lsp-select").value = known.id; }
    el("load-message").textContent = "Read " + state.loaded.people.length + " people's answers from " + source + "." +
      (!LSPS && state.loaded.lsp_id ? " This page does not list LSPs, so its lsp_id (" + state.loaded.lsp_id +
        ") cannot choose your comparison group: choose it below." : "");
    show();
  }

  function onFile(event) {
    var file = event.target.files[0];
    if (!file) { return; }
    function refuse(message) {
      clearProfile();
      el("load-message").innerHTML = '<span class="error">' + esc(file.name + ": " + message) + "</span>";
    }
    var reader = new FileReader();
    if (/\.xlsx$/i.test(file.name)) {
      if (typeof DecompressionStream === "undefined") {
        refuse("this browser cannot unzip a workbook; save the sheet as CSV (UTF-8) and load that");
        return;
      }
      reader.onload = function () {
        /* Inside a promise, so a damaged archive's error reaches the refusal below. */
        Promise.resolve(reader.result).then(readXlsx).then(function (rows) { loadRows(rows, file.name); }, function (error) {
          refuse("not a readable .xlsx workbook (" + error.message + "); save the sheet as CSV (UTF-8) and load that");
        });
      };
      reader.readAsArrayBuffer(file);
    } else if (/\.csv$/i.test(file.name)) {
      reader.onload = function () { loadRows(parseCsv(String(reader.result)), file.name); };
      reader.readAsText(file, "utf-8");
    } else {
      refuse("not a .csv or .xlsx file");
    }
  }

  /* ---- the on-screen form: the same questions, one person at a time ---- */
  function buildForm() {
    var options = '<option value="">Not answered</option>' + Object.keys(REF.agree_labels).map(function (k) {
      return '<option value="' + k + '">' + esc(REF.agree_labels[k]) + "</option>";
    }).join("") + '<option value="-8">' + esc(REF.missing_codes["-8"]) + "</option>";
    var html = '<div class="form-row"><label for="q-respondent_type">This person is</label><select id="q-respondent_type">' +
      '<option value="partner">a board member</option><option value="coordinator">the coordinator</option></select></div>';
    REF.elements.forEach(function (element) {
      html += "<fieldset><legend>" + esc(element.label) + "</legend>";
      REF.items.filter(function (i) { return i.element === element.key; }).forEach(function (item) {
        html += '<div class="form-row"><label for="q-' + item.name + '">' + esc(item.question) + "</label>" +
          '<select id="q-' + item.name + '" data-item="' + item.name + '">' + options + "</select></div>";
      });
      html += "</fieldset>";
    });
    el("form-questions").innerHTML = html;
    el("add-person").addEventListener("click", function () {
      var row = { respondent_type: el("q-respondent_type").value };
      REF.items.forEach(function (item) { row[item.name] = el("q-" + item.name).value; });
      state.typed.push(row);
      el("answer-form").reset();
      el("form-count").textContent = state.typed.length + (state.typed.length === 1 ? " person" : " people") + " added.";
    });
    el("use-typed").addEventListener("click", function () {
      if (!state.typed.length) { el("form-count").textContent = "Add at least one person's answers first."; return; }
      loadRows(state.typed, "the form");
    });
  }

  /* Every published group of every partition, by name: the partnership can always choose one directly. */
  function groupsByName() {
    return REF.partitions.map(function (p) {
      var groups = REF.groups.filter(function (g) { return g.partition === p.key && g.respondents; });
      return groups.length ? '<optgroup label="' + esc(p.label) + '">' + groups.map(function (g) {
        return '<option value="' + esc(g.key) + '">' + esc(g.label) + "</option>";
      }).join("") + "</optgroup>" : "";
    }).join("");
  }

  function buildSelectors() {
    var options = '<option value="">England only</option>';
    if (LSPS) {
      var lsps = LSPS.slice().sort(function (a, b) { return a.name.localeCompare(b.name); });
      el("lsp-select").insertAdjacentHTML("beforeend", lsps.map(function (l) {
        return '<option value="' + esc(l.id) + '">' + esc(l.name) + "</option>";
      }).join(""));
      /* The groups your partnership is in, once it is chosen; the tier's by default. */
      options += '<optgroup label="Your partnership\'s own group">' + REF.partitions.filter(function (p) {
        return LSP_FIELD[p.key];
      }).map(function (p) {
        return '<option value="' + p.key + '"' + (p.key === "tier" ? " selected" : "") + ">Same " +
          esc(p.label.toLowerCase()) + "</option>";
      }).join("") + "</optgroup>";
    } else {
      el("lsp-choice").hidden = true;
      el("lsp-list-note").hidden = false;
      el("lsp-list-note").textContent = "This page does not list the frame's " + count(REF.lsps_left_out.frame_lsps) +
        " LSPs: it lists them only for a frame of at most " + count(REF.lsps_left_out.list_max) + ", so that it stays " +
        "small enough to open anywhere. Choose the comparison group your partnership belongs to by name below.";
    }
    el("group-select").innerHTML = options + groupsByName();
    el("lsp-select").addEventListener("change", show);
    el("group-select").addEventListener("change", show);
  }

  function about() {
    var small = REF.groups.filter(function (g) { return !g.respondents; }).map(function (g) { return g.label; });
    el("about").textContent = "England's bands are design-based percentiles of the scale scores of the " +
      REF.population + "; the weights are " + REF.weighting + ". A comparison group is a fixed set of LSPs; " +
      "a group answered by fewer than " + REF.min_cell + " people is not shown" +
      (small.length ? " (" + small.join(", ") + ")" : "") + ". Your interval treats the people who answered as a sample of " +
      "your board, with the spread of views found within LSPs nationally: the fewer who answered, the wider it is.";
  }

  el("answers-file").addEventListener("change", onFile);
  /* A phone turned sideways: redraw the chart for the width it now has. */
  window.addEventListener("resize", function () { if (state.rows) { el("chart").innerHTML = chart(state.rows); } });
  el("print").addEventListener("click", function () { window.print(); });
  el("download").addEventListener("click", function () {
    var blob = new Blob([profileCsv(state.rows || [])], { type: "text/csv" });
    var link = document.createElement("a");
    link.href = URL.createObjectURL(blob);
    link.download = "lsp_7s_profile.csv";
    link.click();
    setTimeout(function () { URL.revokeObjectURL(link.href); }, 1000);
  });
  buildSelectors();
  buildForm();
  about();

  /* For the browser test and for anyone checking the numbers from the console. */
  window.improvementTool = {
    parseCsv: parseCsv, decodeAnswers: decodeAnswers, computeProfile: computeProfile, profileCsv: profileCsv,
    current: function () { return state.rows ? profileCsv(state.rows) : null; }
  };
}());
