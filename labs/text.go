package labs

// Languages the UI and the labs speak. English is the fallback: content
// must have it, Chinese may be missing (and then English is shown).
const (
	EN = "en"
	ZH = "zh"
)

// Text is a string in English and Simplified Chinese.
type Text struct {
	EN string
	ZH string
}

// Get returns the text in lang ("en" or "zh"), or in the other language if
// that one is empty, so a missing translation shows English rather than
// nothing.
func (t Text) Get(lang string) string {
	if lang == ZH && t.ZH != "" {
		return t.ZH
	}
	if t.EN != "" {
		return t.EN
	}
	return t.ZH
}

// Lang normalises a lang query parameter: "zh", "zh-CN"… are Chinese,
// anything else is English.
func Lang(s string) string {
	if len(s) >= 2 && s[:2] == ZH {
		return ZH
	}
	return EN
}

// both builds a Text from an English and a Chinese string.
func both(en, zh string) Text { return Text{EN: en, ZH: zh} }
