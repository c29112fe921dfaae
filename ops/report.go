package ops

// Item is one thing restored, removed or kept.
type Item struct {
	// Kind is container, image, snapshot, lease, content, namespace,
	// state, drop, config or source.
	Kind string `json:"kind"`

	// Name is the id, reference or path.
	Name string `json:"name"`

	// Files and Bytes count what a folder or file held.
	Files int   `json:"files,omitempty"`
	Bytes int64 `json:"bytes,omitempty"`

	// Detail says more, in a few words.
	Detail string `json:"detail,omitempty"`
}

// ImageNeed is a plugin image that a restored installation needs.
type ImageNeed struct {
	Tool   string `json:"tool"`
	Image  string `json:"image"`
	Digest string `json:"digest,omitempty"`

	// Present is true when the image was found in containerd.
	Present bool `json:"present"`

	// Action is what to do when it is not present: "rebuild" (ventapp
	// plugins build TOOL; the source folder is there) or "import"
	// (ventapp images import FILE; the source was not in the backup).
	Action string `json:"action"`
}

// Report says what Restore or Reset did.
type Report struct {
	Restored []Item      `json:"restored,omitempty"`
	Removed  []Item      `json:"removed,omitempty"`
	Kept     []Item      `json:"kept,omitempty"`
	Images   []ImageNeed `json:"images,omitempty"`
	Notes    []string    `json:"notes,omitempty"`
}
