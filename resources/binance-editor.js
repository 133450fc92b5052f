/**
 * node-red-contrib-binance-user-stream: the editor code the six node dialogs share, written once.
 *
 * Node-RED serves this package's resources/ folder to the editor. Each node's .html loads this file
 * with a relative URL (so that httpAdminRoot applies):
 *   <script src="resources/node-red-contrib-binance-user-stream/binance-editor.js"></script>
 * The editor appends a module's node scripts only once every such script has loaded, so this is
 * defined when a node registers. Every node file names it (a node set can be disabled on its own);
 * the first load defines it, the others leave it as it is.
 *
 * In a dialog template, a shared row is a placeholder element on a line of its own:
 *   <div data-binance-row="account"></div>        a property several nodes have (ROWS below), or
 *                                                 the "message" header: its row, and its default
 *   <div data-binance-checkbox="hideZero"></div>  the checkbox row of one of the node's own
 *                                                 properties (the node defines its default)
 * A node registers itself as Node-RED documents it (RED.nodes.registerType('<type>', {...}), which
 * tools such as the Flow Library's scorecard read), with
 *   defaults: BinanceUserStreamEditor.defaults('<type>', { its own properties }),
 * which replaces the placeholders with the rows (labels from the node's own catalog:
 * <type>.label.<property>) and adds the default of each shared property the template names: name
 * and account first, then the node's own, then the others in template order (the order the
 * properties have always had in saved flows). The palette label, label and label style functions
 * are here too.
 */
(function (global) {
  'use strict';
  if (global.BinanceUserStreamEditor) return;

  /** Validators (Node-RED calls them with the property's value). */
  function pattern(re) {
    return function (v) {
      return re.test(String(v || ''));
    };
  }
  function oneOf(values) {
    return function (v) {
      return values.indexOf(v || '') >= 0;
    };
  }
  /** Empty, or a number from min to max. */
  function optionalRange(min, max) {
    return function (v) {
      if (v === undefined || v === null || String(v).trim() === '') return true;
      var n = Number(v);
      return Number.isFinite(n) && n >= min && n <= max;
    };
  }

  function checkboxRow(type, prefix, property) {
    var id = prefix + '-' + property;
    return [
      '<div class="form-row">',
      '  <label>&nbsp;</label>',
      '  <input type="checkbox" id="' + id + '" style="display: inline-block; width: auto; vertical-align: top" />',
      '  <label for="' + id + '" style="width: 70%" data-i18n="' + type + '.label.' + property + '"></label>',
      '</div>',
    ];
  }

  /** The shared rows: their lines and, for a property, its default (a new object for each node). */
  var ROWS = {
    account: {
      defaults: function () {
        return { value: '', type: 'binance-account', required: true };
      },
      lines: function (type, prefix) {
        return [
          '<div class="form-row">',
          '  <label for="' + prefix + '-account"><i class="fa fa-user"></i> <span data-i18n="' + type + '.label.account"></span></label>',
          '  <input type="text" id="' + prefix + '-account" />',
          '</div>',
        ];
      },
    },
    name: {
      defaults: function () {
        return { value: '' };
      },
      lines: function (type, prefix) {
        return [
          '<div class="form-row">',
          '  <label for="' + prefix + '-name"><i class="fa fa-tag"></i> <span data-i18n="' + type + '.label.name"></span></label>',
          '  <input type="text" id="' + prefix + '-name" data-i18n="[placeholder]' + type + '.placeholder.name" />',
          '</div>',
        ];
      },
    },
    /** The header of the message options (no property). */
    message: {
      lines: function (type) {
        return ['<div class="form-row">', '  <label><i class="fa fa-envelope-o"></i> <span data-i18n="' + type + '.label.message"></span></label>', '</div>'];
      },
    },
    numbers: {
      defaults: function () {
        return { value: false };
      },
      lines: checkboxRow,
    },
    isoTimes: {
      // new nodes add ISO time strings; nodes saved before the option existed keep their payload
      defaults: function () {
        return { value: true };
      },
      lines: checkboxRow,
    },
    showLastEvent: {
      defaults: function () {
        return { value: false };
      },
      lines: checkboxRow,
    },
  };
  /** Shared properties that come before the node's own in its defaults. */
  var FIRST = ['name', 'account'];

  var PLACEHOLDER = /^([ \t]*)<div data-binance-(row|checkbox)="([A-Za-z]+)"><\/div>[ \t]*$/gm;
  var ANY_PLACEHOLDER = /data-binance-(row|checkbox)=/;

  /**
   * A template's text with its placeholders replaced (each line indented like the placeholder),
   * and the shared rows it names, in order.
   */
  function expandTemplate(type, text, prefix) {
    var rows = [];
    var html = String(text).replace(PLACEHOLDER, function (_all, indent, kind, name) {
      var lines;
      if (kind === 'checkbox') {
        lines = checkboxRow(type, prefix, name);
      } else {
        if (!Object.prototype.hasOwnProperty.call(ROWS, name)) throw new Error(type + ': no shared row "' + name + '"');
        if (rows.indexOf(name) >= 0) throw new Error(type + ': shared row "' + name + '" twice');
        rows.push(name);
        lines = ROWS[name].lines(type, prefix, name);
      }
      return lines
        .map(function (l) {
          return indent + l;
        })
        .join('\n');
    });
    if (ANY_PLACEHOLDER.test(html)) throw new Error(type + ': a shared-row placeholder not on a line of its own');
    return { html: html, rows: rows };
  }

  /** The node's defaults with those of the shared rows it uses, in saved-flow order. */
  function withSharedDefaults(type, rows, own) {
    var out = {};
    function add(name) {
      if (ROWS[name].defaults) out[name] = ROWS[name].defaults();
    }
    FIRST.forEach(function (name) {
      if (rows.indexOf(name) >= 0) add(name);
    });
    Object.keys(own || {}).forEach(function (k) {
      if (Object.prototype.hasOwnProperty.call(ROWS, k)) throw new Error(type + ': ' + k + ' is a shared property: name its row in the template');
      out[k] = own[k];
    });
    rows.forEach(function (name) {
      if (FIRST.indexOf(name) < 0) add(name);
    });
    return out;
  }

  /** Shared rows per type once expanded (the editor may append a node set's HTML again). */
  var expanded = {};

  /**
   * Puts the shared rows into the node's dialog template (in the page: each node file has its
   * template before its script) and returns its defaults: the shared ones the template names with
   * the node's own.
   */
  function defaultsOf(type, own, prefix) {
    var templates = document.querySelectorAll('script[data-template-name="' + type + '"]');
    if (!templates.length) throw new Error(type + ': no dialog template in the page');
    var rows;
    for (var i = 0; i < templates.length; i++) {
      if (!ANY_PLACEHOLDER.test(templates[i].textContent)) continue;
      var t = expandTemplate(type, templates[i].textContent, prefix);
      templates[i].textContent = t.html;
      rows = t.rows;
    }
    if (rows) expanded[type] = rows;
    else rows = expanded[type] || [];
    return withSharedDefaults(type, rows, own);
  }

  global.BinanceUserStreamEditor = {
    /** defaults: E.defaults('<type>', { the node's own properties }) in RED.nodes.registerType('<type>', {...}). */
    defaults: function (type, own) {
      return defaultsOf(type, own, 'node-input');
    },
    /** The same for a config node (its inputs are node-config-input-<property>). */
    configDefaults: function (type, own) {
      return defaultsOf(type, own, 'node-config-input');
    },
    /** The palette label from the node's catalog: <type>.paletteLabel (Node-RED calls it on the definition, which has the type). */
    paletteLabel: function () {
      return this._(this.type + '.paletteLabel');
    },
    /** A node's label: its name, or its palette label. */
    label: function () {
      return this.name || this._(this.type + '.paletteLabel');
    },
    labelStyle: function () {
      return this.name ? 'node_label_italic' : '';
    },
    expandTemplate: expandTemplate,
    sharedRows: Object.keys(ROWS),
    validate: {
      /** Symbol or asset names with wildcards * and ?, separated by commas, semicolons or spaces. */
      nameList: pattern(/^[A-Za-z0-9*?,;\s]*$/),
      pattern: pattern,
      oneOf: oneOf,
      optionalRange: optionalRange,
    },
  };
})(window);
