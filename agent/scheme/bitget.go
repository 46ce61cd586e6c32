package scheme

// bitget is a placeholder until its implementation lands.
type bitget struct{}

func (bitget) Name() string                { return "bitget" }
func (bitget) Hosts() []string             { return nil }
func (bitget) Info() Info                  { return Info{} }
func (bitget) Check(Key) (Checked, error)  { return Checked{}, errPending("bitget") }
func (bitget) Sign(Input) (Request, error) { return Request{}, errPending("bitget") }
