/// The chapter 7–8 model zoo.
public enum Models {}
