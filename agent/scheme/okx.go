package scheme

// okx is a placeholder until its implementation lands.
type okx struct{}

func (okx) Name() string                { return "okx" }
func (okx) Hosts() []string             { return nil }
func (okx) Info() Info                  { return Info{} }
func (okx) Check(Key) (Checked, error)  { return Checked{}, errPending("okx") }
func (okx) Sign(Input) (Request, error) { return Request{}, errPending("okx") }
